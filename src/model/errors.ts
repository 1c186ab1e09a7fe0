// Typed failures of the model runtime: choosing a TensorFlow.js backend and loading a
// model folder. Schema tagged errors, so they can cross process and wire boundaries.
import * as Schema from "effect/Schema"

/** The requested (or every) TensorFlow.js backend could not be initialised. */
export class BackendUnavailable extends Schema.TaggedError<BackendUnavailable>()("BackendUnavailable", {
  backend: Schema.String,
  message: Schema.String
}) {}

/** A model folder could not be turned into a runnable model; the message names the path and why. */
export class ModelLoadFailed extends Schema.TaggedError<ModelLoadFailed>()("ModelLoadFailed", {
  path: Schema.String,
  message: Schema.String
}) {}
