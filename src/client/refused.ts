// A client operation's failure that is really the server refusing this connection (a permissions
// violation behind a ConnectionError or RegistryUnavailable) becomes the typed PermissionDenied.
import { permissionDeniedOf } from "../nats/permissions.js"
import type { PermissionDenied } from "../protocol/errors.js"

// Errors that describe this connection's own requests; others (a replica's UpdateFailed…) may quote
// a refusal the replica met, which is not the caller's.
const OWN: ReadonlySet<unknown> = new Set(["ConnectionError", "RegistryUnavailable", undefined])

/** `error`, or the PermissionDenied it stands for when the server refused this connection. */
export const refusedOr = <E>(error: E): E | PermissionDenied =>
  OWN.has((error as { _tag?: unknown })?._tag) ? (permissionDeniedOf(error) ?? error) : error
