// The typed errors of canaries, shared by replicas, operators' clients and the CLI: one already running,
// none to act on, and a compare-and-swap of the canary entry lost to another writer.
import * as Schema from "effect/Schema"

/** A canary is already running on the model: start another, or publish a version, once it is promoted or aborted. */
export class CanaryRunning extends Schema.TaggedError<CanaryRunning>()("CanaryRunning", {
  message: Schema.String,
  model: Schema.String,
  candidate: Schema.Number
}) {}

/** No canary is running on the model (promote, abort), or none was ever started (status). */
export class NoCanary extends Schema.TaggedError<NoCanary>()("NoCanary", {
  message: Schema.String,
  model: Schema.String
}) {}

/** The canary entry moved since it was read (compare-and-swap lost): someone else started or ended it first. */
export class CanaryConflict extends Schema.TaggedError<CanaryConflict>()("CanaryConflict", {
  message: Schema.String,
  model: Schema.String
}) {}
