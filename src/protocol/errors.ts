// The typed errors a caller can see, shared by actor and client: one Schema.TaggedError per
// failure, their NATS micro status codes, and the wire body that carries them.
import * as Schema from "effect/Schema"

/** 400: the request could not be decoded or does not fit the model's signature. */
export class BadInput extends Schema.TaggedError<BadInput>()("BadInput", {
  message: Schema.String,
  input: Schema.optional(Schema.String)
}) {}

/** 413: the request body is larger than the actor accepts. */
export class PayloadTooLarge extends Schema.TaggedError<PayloadTooLarge>()("PayloadTooLarge", {
  message: Schema.String,
  limit: Schema.Number,
  size: Schema.Number
}) {}

/** 500: the model runtime threw while computing. */
export class InferenceFailed extends Schema.TaggedError<InferenceFailed>()("InferenceFailed", {
  message: Schema.String
}) {}

/** 503: the actor's admission limit is reached. */
export class Overloaded extends Schema.TaggedError<Overloaded>()("Overloaded", {
  message: Schema.String,
  /** Set by the client on the error it finally returns: how many attempts it made. */
  attempts: Schema.optional(Schema.Number)
}) {}

/** 504: the request's deadline passed before it ran. */
export class DeadlineExceeded extends Schema.TaggedError<DeadlineExceeded>()("DeadlineExceeded", {
  message: Schema.String
}) {}

/** Client side: no reply arrived within the timeout. */
export class Timeout extends Schema.TaggedError<Timeout>()("Timeout", {
  message: Schema.String,
  subject: Schema.String,
  timeoutMs: Schema.Number,
  /** How many attempts the client made (each waited `timeoutMs`). */
  attempts: Schema.optional(Schema.Number)
}) {}

/** Client side: nothing is subscribed to the subject (no replica of that model is serving). */
export class NoResponders extends Schema.TaggedError<NoResponders>()("NoResponders", {
  message: Schema.String,
  subject: Schema.String,
  /** How many attempts the client made. */
  attempts: Schema.optional(Schema.Number)
}) {}

/** Client side: the NATS connection could not be made or was lost. */
export class ConnectionError extends Schema.TaggedError<ConnectionError>()("ConnectionError", {
  message: Schema.String
}) {}

/**
 * Client side: the NATS server refused this connection an operation its user's permissions do not
 * allow (publish to, or subscribe to, `subject`); reported at once, and never retried.
 */
export class PermissionDenied extends Schema.TaggedError<PermissionDenied>()("PermissionDenied", {
  message: Schema.String,
  subject: Schema.String,
  operation: Schema.Literals(["publish", "subscribe"])
}) {}

/** Client side: a reply arrived that is not a modelbus reply (wrong service on the subject). */
export class BadReply extends Schema.TaggedError<BadReply>()("BadReply", {
  message: Schema.String,
  subject: Schema.String
}) {}

/**
 * No such model (or actor, or supervisor) on the bus or in the registry: nobody runs or serves
 * `target`, or the registry holds no version of it. (A missing version of a known model is the
 * registry's VersionNotFound.)
 */
export class NotFound extends Schema.TaggedError<NotFound>()("NotFound", {
  message: Schema.String,
  target: Schema.String
}) {}

/** Errors an actor replies with. */
export const ServiceError = Schema.Union([BadInput, PayloadTooLarge, InferenceFailed, Overloaded, DeadlineExceeded])
export type ServiceError = typeof ServiceError.Type

/** Every error a client call can end with. */
export type InferError = ServiceError | Timeout | NoResponders | ConnectionError | BadReply | PermissionDenied

/** NATS micro status codes (`Nats-Service-Error-Code`) of the service errors. */
export const errorCodes = {
  BadInput: 400,
  PayloadTooLarge: 413,
  InferenceFailed: 500,
  Overloaded: 503,
  DeadlineExceeded: 504
} as const satisfies Record<ServiceError["_tag"], number>

export const ERROR_CODE_HEADER = "Nats-Service-Error-Code"
export const ERROR_HEADER = "Nats-Service-Error"

const encodeServiceError = Schema.encodeSync(ServiceError)
const decodeServiceError = Schema.decodeUnknownOption(ServiceError)

/** The `{"error": {...}}` body of an error reply. */
export const errorBody = (error: ServiceError): { readonly error: unknown } => ({ error: encodeServiceError(error) })

/** The service error in a decoded reply body, if it holds one. */
export const serviceErrorFromBody = (body: unknown): ServiceError | undefined => {
  if (typeof body !== "object" || body === null || !("error" in body)) return undefined
  const decoded = decodeServiceError((body as { error: unknown }).error)
  return decoded._tag === "Some" ? decoded.value : undefined
}
