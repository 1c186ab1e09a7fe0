// The messages an actor process sends its supervisor over the fork IPC channel, and the
// settings the supervisor hands an actor in its environment.
import { Schema } from "effect"

export interface ActorCounters {
  readonly version: number
  readonly loads: number
  readonly served: number
  readonly errors: number
  readonly inflight: number
  readonly calls: number
  readonly tensors: number
  readonly rssBytes: number
}

export type ActorMessage =
  | { readonly type: "ready"; readonly backend: string; readonly loadMs: number; readonly counters: ActorCounters }
  | { readonly type: "heartbeat"; readonly state: "starting" | "serving" | "draining"; readonly counters: ActorCounters }
  | { readonly type: "draining"; readonly counters: ActorCounters }

/** Environment variable holding the actor's settings as JSON. */
export const ACTOR_SETTINGS_ENV = "MODELBUS_ACTOR"

export const ActorSettings = Schema.Struct({
  id: Schema.String,
  model: Schema.String,
  path: Schema.String,
  servers: Schema.Union([Schema.String, Schema.Array(Schema.String)]),
  prefix: Schema.String,
  version: Schema.Number,
  heartbeatMs: Schema.Number,
  /** Load the registry's current version (JetStream) instead of `path`, and follow updates. */
  registry: Schema.optional(Schema.Boolean),
  retention: Schema.optional(Schema.Number),
  maxPayloadBytes: Schema.optional(Schema.Number),
  maxInflight: Schema.optional(Schema.Number),
  batching: Schema.optional(Schema.Struct({ maxBatchSize: Schema.Number, maxDelayMs: Schema.Number }))
})
export type ActorSettings = typeof ActorSettings.Type

/** Sends a message to the supervisor if this process has one; a closed channel is ignored. */
export const tellSupervisor = (message: ActorMessage): void => {
  if (process.send !== undefined && process.connected) process.send(message, undefined, undefined, () => {})
}

export const isActorMessage = (value: unknown): value is ActorMessage =>
  typeof value === "object" && value !== null && ["ready", "heartbeat", "draining"].includes((value as { type?: string }).type ?? "")
