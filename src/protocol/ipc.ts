// The supervisor ↔ actor contract: the settings a supervisor hands an actor or standby process (in its
// environment), its NATS credentials and a standby's model (over the fork IPC channel, never in the
// environment or argv), the messages an actor sends back over that channel, and their defaults.
import * as Schema from "effect/Schema"
import { NatsAuth } from "./auth.js"

/** What an actor process is doing, as it reports it. */
export const ProcessState = { starting: "starting", serving: "serving", draining: "draining" } as const
export type ProcessState = (typeof ProcessState)[keyof typeof ProcessState]

/** `maxBatchSize` that asks the actor to measure the best limit for the version it serves. */
export const AUTO_BATCH_SIZE = "auto"

export interface BatchingOptions {
  /** Rows per model call at most (1 turns batching off), or `auto`: measured per model version. */
  readonly maxBatchSize: number | typeof AUTO_BATCH_SIZE
  /** How long a partial batch may wait for more requests; 0 never waits. */
  readonly maxDelayMs: number
}

export const DEFAULT_BATCHING: BatchingOptions = { maxBatchSize: AUTO_BATCH_SIZE, maxDelayMs: 0 }

/**
 * Where an actor's batch limit comes from: `config` (a fixed maxBatchSize), `probing` (being measured;
 * the fallback applies meanwhile), `measured` (the best size timed on the version served), `fallback`
 * (measuring could not decide, or the model's batch dimension is fixed).
 */
export const BatchLimitSource = {
  config: "config",
  probing: "probing",
  measured: "measured",
  fallback: "fallback"
} as const
export type BatchLimitSource = (typeof BatchLimitSource)[keyof typeof BatchLimitSource]

/** The batch limit an actor applies now, as it reports it. */
export interface BatchLimit {
  /** Rows per model call at most. */
  readonly maxBatchSize: number
  readonly source: BatchLimitSource
  /** The model version it was measured on (`measured`, `fallback`). */
  readonly version?: number
}

/** Requests an actor accepts before it leaves its queue group (per actor). */
export const DEFAULT_MAX_INFLIGHT = 1024

/** What became of a request an actor took off the bus: the `outcome` label of `modelbus_requests_total`. */
export const OUTCOMES = [
  "ok",
  "bad_input",
  "payload_too_large",
  "inference_failed",
  "overloaded",
  "deadline_exceeded"
] as const
export type Outcome = (typeof OUTCOMES)[number]

/** Upper bounds (seconds) of the latency histograms' buckets; an open bucket (+Inf) follows the last. */
export const LATENCY_BUCKETS: ReadonlyArray<number> = [
  0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10
]
/** Upper bounds of the batch size histogram's buckets (requests per model call). */
export const BATCH_SIZE_BUCKETS: ReadonlyArray<number> = [1, 2, 4, 8, 16, 32, 64, 128, 256]

/** A histogram as an actor reports it: per-bucket counts (not cumulative; one more than the bounds) and the sum. */
export interface HistogramCounts {
  readonly counts: ReadonlyArray<number>
  readonly sum: number
}

/** What an actor measured since it started (settings `metrics`), sent with each heartbeat. */
export interface ActorMetrics {
  readonly outcomes: Readonly<Record<Outcome, number>>
  /** From taking a request off the bus to its model call starting. */
  readonly queueWait: HistogramCounts
  /** The model call that computed a request (a batch's call counts for each of its requests). */
  readonly compute: HistogramCounts
  /** From taking a request off the bus to its reply being sent (requests that reached the queue). */
  readonly total: HistogramCounts
  /** Requests per model call. */
  readonly batchSize: HistogramCounts
  /** The part of `outcomes` and `total` a canary's candidate answered (the rest is the stable version's). */
  readonly candidate?: VersionShare
}

/** Outcomes and latencies of the requests one version answered (a part of an actor's whole). */
export interface VersionShare {
  readonly outcomes: Readonly<Record<Outcome, number>>
  readonly total: HistogramCounts
}

export interface ActorCounters {
  readonly version: number
  readonly loads: number
  readonly served: number
  readonly errors: number
  /** Requests admitted and not yet answered: queued and running. */
  readonly inflight: number
  /** Of those, the requests queued for the model and not yet running (absent from an older actor: 0). */
  readonly queued?: number
  /** Requests refused with Overloaded since the process started (absent from an older actor: 0). */
  readonly overloaded?: number
  /** Times the actor left its model's queue group because it was full, since the process started (absent: 0). */
  readonly leftQueueGroup?: number
  readonly calls: number
  readonly tensors: number
  readonly rssBytes: number
  /** The batch limit in force. */
  readonly batching?: BatchLimit
  /** Cumulative since the process started; only when its settings ask for metrics. */
  readonly metrics?: ActorMetrics
}

export type ActorMessage =
  | { readonly type: "ready"; readonly backend: string; readonly loadMs: number; readonly counters: ActorCounters }
  | { readonly type: "heartbeat"; readonly state: ProcessState; readonly counters: ActorCounters }
  | { readonly type: "draining"; readonly counters: ActorCounters }
  /** Sent before the process exits because it could not start: the typed error's tag and message. */
  | { readonly type: "startFailed"; readonly error: string }
  /** Asks the supervisor for the NATS credentials (settings `credentialsOverIpc`); answered with `credentials`. */
  | { readonly type: "credentialsRequest" }
  | StandbyReport

/**
 * What a standby process (no model yet) reports: `standbyReady` once its runtime is initialised and
 * NATS connected (it then waits for `assign`), `standbyHeartbeat` every `heartbeatMs` after that.
 */
export const StandbyReport = Schema.Union([
  Schema.Struct({ type: Schema.Literal("standbyReady"), backend: Schema.String, rssBytes: Schema.Number }),
  Schema.Struct({ type: Schema.Literal("standbyHeartbeat"), rssBytes: Schema.Number })
])
export type StandbyReport = typeof StandbyReport.Type

const actorMessageTypes: ReadonlySet<unknown> = new Set([
  "ready",
  "heartbeat",
  "draining",
  "startFailed",
  "credentialsRequest",
  "standbyReady",
  "standbyHeartbeat"
])

export const isActorMessage = (value: unknown): value is ActorMessage =>
  typeof value === "object" && value !== null && actorMessageTypes.has((value as { type?: unknown }).type)

/** The supervisor's answer to `credentialsRequest`: how the actor authenticates to NATS. */
export const CredentialsMessage = Schema.Struct({ type: Schema.Literal("credentials"), auth: NatsAuth })
export type CredentialsMessage = typeof CredentialsMessage.Type

/** Environment variable holding the actor's settings as JSON. */
export const ACTOR_SETTINGS_ENV = "MODELBUS_ACTOR"

/** What every process a supervisor forks needs before it has a model: who it is, how it connects, what it runs with. */
const processFields = {
  id: Schema.String,
  /** Without credentials: those written in a URL travel with the others, over IPC. */
  servers: Schema.Union([Schema.String, Schema.Array(Schema.String)]),
  /** The NATS credentials come over the IPC channel (ask with `credentialsRequest`). */
  credentialsOverIpc: Schema.optional(Schema.Boolean),
  prefix: Schema.String,
  heartbeatMs: Schema.Number,
  /** Load the registry's current version (JetStream) instead of `path`, and follow updates. */
  registry: Schema.optional(Schema.Boolean),
  retention: Schema.optional(Schema.Number),
  /** Measure latencies, batch sizes and outcomes and send them with each heartbeat (the supervisor serves /metrics). */
  metrics: Schema.optional(Schema.Boolean)
}

export const ActorSettings = Schema.Struct({
  ...processFields,
  model: Schema.String,
  path: Schema.String,
  version: Schema.Number,
  maxPayloadBytes: Schema.optional(Schema.Number),
  maxInflight: Schema.optional(Schema.Number),
  batching: Schema.optional(
    Schema.Struct({
      maxBatchSize: Schema.Union([Schema.Number, Schema.Literal(AUTO_BATCH_SIZE)]),
      maxDelayMs: Schema.Number
    })
  ),
  /** How ONNX Runtime runs the model when it is an ONNX one: threads per call (default 1). */
  onnx: Schema.optional(Schema.Struct({ intraOpNumThreads: Schema.optional(Schema.Number) }))
})
export type ActorSettings = typeof ActorSettings.Type

/** What a supervisor starts an actor with: the settings (its environment) and the credentials its launcher sends over IPC. */
export type ActorLaunch = ActorSettings & { readonly auth?: NatsAuth }

/** Environment variable holding a standby's settings as JSON (instead of ACTOR_SETTINGS_ENV). */
export const STANDBY_SETTINGS_ENV = "MODELBUS_STANDBY"

/** A standby: a process that initialises the runtime and connects, then waits for `assign` to load a model. */
export const StandbySettings = Schema.Struct(processFields)
export type StandbySettings = typeof StandbySettings.Type

/** What a supervisor starts a standby with; like ActorLaunch, the credentials go over IPC. */
export type StandbyLaunch = StandbySettings & { readonly auth?: NatsAuth }

/**
 * The supervisor hands a standby a child slot: from now on it is that actor (`settings.id`) and starts
 * as a fresh actor would from its model on (the registry's current version, else `path`). The
 * connection fields of `settings` are those the standby already connected with.
 */
export const AssignMessage = Schema.Struct({ type: Schema.Literal("assign"), settings: ActorSettings })
export type AssignMessage = typeof AssignMessage.Type
