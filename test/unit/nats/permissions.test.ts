// Permission violations as PermissionDenied: nats.js's own error, one wrapped as a cause, or quoted
// in a message of this connection's errors — but not a refusal a replica met and reported.
import { PermissionViolationError, RequestError } from "@nats-io/transport-node"
import { describe, expect, it } from "vitest"
import { refusedOr } from "../../../src/client/refused.js"
import { permissionDeniedOf, violationOf } from "../../../src/nats/permissions.js"
import { ConnectionError, PermissionDenied } from "../../../src/protocol/errors.js"
import { RegistryUnavailable, UpdateFailed } from "../../../src/registry/errors.js"

const violation = (text: string) => PermissionViolationError.parse(text)!

describe("permissionDeniedOf", () => {
  it("names the subject and the operation of nats.js's error", () => {
    const denied = permissionDeniedOf(violation('Permissions Violation for Publish to "modelbus.control.restart"'))
    expect(denied).toBeInstanceOf(PermissionDenied)
    expect(denied).toMatchObject({ subject: "modelbus.control.restart", operation: "publish" })
    expect(denied?.message).toBe(
      "this NATS user may not publish to modelbus.control.restart: the server refused it (permissions violation)"
    )
    const sub = permissionDeniedOf(
      violation('Permissions Violation for Subscription to "modelbus.infer.iris" using queue "modelbus.iris"')
    )
    expect(sub).toMatchObject({ subject: "modelbus.infer.iris", operation: "subscribe" })
    expect(sub?.message).toContain("(queue group modelbus.iris)")
  })

  it("finds it as a cause, or quoted in a message", () => {
    const cause = violation('Permissions Violation for Publish to "modelbus.fit.iris"')
    expect(permissionDeniedOf(new RequestError(cause.message, { cause }))?.subject).toBe("modelbus.fit.iris")
    const flattened = new RegistryUnavailable({
      message: 'JetStream is not available (Permissions Violation for Publish to "$JS.API.INFO"): start …'
    })
    expect(permissionDeniedOf(flattened)?.subject).toBe("$JS.API.INFO")
    expect(permissionDeniedOf(new Error("no responders"))).toBeUndefined()
  })

  it("maps this connection's failures only, not a replica's report", () => {
    const quoted = 'Permissions Violation for Publish to "$O.modelbus_artifacts.C.x"'
    expect(refusedOr(new ConnectionError({ message: `request failed: ${quoted}` }))).toBeInstanceOf(PermissionDenied)
    const replica = new UpdateFailed({
      message: `replica iris-1 could not load: ${quoted}`,
      model: "iris",
      version: 2,
      replica: "iris-1",
      cause: quoted
    })
    expect(refusedOr(replica)).toBe(replica)
  })

  it("recognises a violation on the connection's status iterator", () => {
    const error = violation('Permissions Violation for Publish to "x"')
    expect(violationOf({ type: "error", error })).toBe(error)
    expect(violationOf({ type: "error", error: new Error("other") })).toBeUndefined()
    expect(violationOf({ type: "disconnect" })).toBeUndefined()
  })
})
