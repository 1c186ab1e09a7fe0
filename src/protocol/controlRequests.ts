// The bodies of the control commands a client sends every supervisor (restart, scale), as Schemas
// both sides share: a supervisor decodes what arrives and refuses what does not fit.
import * as Schema from "effect/Schema"

export const RestartRequest = Schema.Struct({
  /** A model name, an actor id (`iris-2@k3j9x2`) or a child id (`iris-2`). */
  target: Schema.String.check(Schema.isNonEmpty())
})
export type RestartRequest = typeof RestartRequest.Type

export const ScaleRequest = Schema.Struct({
  model: Schema.String.check(Schema.isNonEmpty()),
  replicas: Schema.Int.check(Schema.isGreaterThanOrEqualTo(0)),
  /** Only this supervisor acts (the others answer with nothing done). */
  supervisor: Schema.optionalKey(Schema.String)
})
export type ScaleRequest = typeof ScaleRequest.Type
