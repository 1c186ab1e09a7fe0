// NATS permission violations as the typed PermissionDenied: from nats.js's own error (thrown, a cause,
// or reported on the connection's status), or from a message that quotes the server's refusal.
import { PermissionViolationError } from "@nats-io/transport-node"
import { PermissionDenied } from "../protocol/errors.js"

/** The typed error for one refusal by the server. */
export const deniedBy = (violation: PermissionViolationError): PermissionDenied => {
  const operation = violation.operation === "subscription" ? "subscribe" : "publish"
  const queue = violation.queue === undefined ? "" : ` (queue group ${violation.queue})`
  return new PermissionDenied({
    message: `this NATS user may not ${operation} ${operation === "publish" ? "to" : "on"} ${violation.subject}${queue}: the server refused it (permissions violation)`,
    subject: violation.subject,
    operation
  })
}

/** The permission violation behind `error`, if there is one: the error itself, a cause, or quoted in a message. */
export const permissionDeniedOf = (error: unknown): PermissionDenied | undefined => {
  let current: unknown = error
  for (let depth = 0; depth < 8 && current !== undefined && current !== null; depth++) {
    if (current instanceof PermissionDenied) return current
    if (current instanceof PermissionViolationError) return deniedBy(current)
    const message = (current as { message?: unknown }).message
    if (typeof message === "string") {
      const parsed = PermissionViolationError.parse(message)
      if (parsed !== null && parsed.subject !== "") return deniedBy(parsed)
    }
    current = (current as { cause?: unknown }).cause
  }
  return undefined
}

/** A violation reported on the connection's status iterator (`{type: "error", error}`), if that is one. */
export const violationOf = (status: { readonly type: string; readonly error?: unknown }) =>
  status.type === "error" && status.error instanceof PermissionViolationError ? status.error : undefined
