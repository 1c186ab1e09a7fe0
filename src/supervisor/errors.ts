// Why a supervisor stops supervising, as typed errors `modelbus supervise` ends with: it could not
// start its children, or they failed more often than its restart intensity allows.
import { Schema } from "effect"
import type { Failure } from "./machine/eventsAndCommands.js"

/** A child failed before it ever served (a model that cannot load, say): nothing is restarted. */
export class StartFailed extends Schema.TaggedError<StartFailed>()("StartFailed", {
  supervisor: Schema.String,
  message: Schema.String
}) {}

/** More restarts than the supervisor's intensity within its period: it stopped its children and failed. */
export class IntensityExceeded extends Schema.TaggedError<IntensityExceeded>()("IntensityExceeded", {
  supervisor: Schema.String,
  message: Schema.String
}) {}

export const failureError = (supervisor: string, failure: Failure): StartFailed | IntensityExceeded =>
  failure.kind === "startFailed"
    ? new StartFailed({ supervisor, message: failure.message })
    : new IntensityExceeded({ supervisor, message: failure.message })

/** The metrics port cannot be listened on (taken, or not allowed). */
export class MetricsUnavailable extends Schema.TaggedError<MetricsUnavailable>()("MetricsUnavailable", {
  port: Schema.Number,
  message: Schema.String
}) {}
