// The shapes of infer requests, replies and status answers as the rest of modelbus sees them,
// after decoding and before encoding.
import * as Schema from "effect/Schema"
import type { BatchLimit } from "./ipc.js"
import type { HostTensor } from "./tensor.js"

/** One input as the request gave it: a tensor, or nested arrays whose dtype the model decides. */
export type InputValue =
  | { readonly kind: "tensor"; readonly tensor: HostTensor }
  | {
      readonly kind: "nested"
      readonly shape: ReadonlyArray<number>
      /** Numbers (bools as 0 and 1), or bigints where msgpack sent 64-bit integers. */
      readonly values: ReadonlyArray<number | bigint>
    }

/** The request's inputs: one unnamed value for a single-input model, or values by input name. */
export type RequestInputs =
  | { readonly kind: "single"; readonly value: InputValue }
  | { readonly kind: "named"; readonly values: Readonly<Record<string, InputValue>> }

export interface InferRequest {
  readonly inputs: RequestInputs
  readonly outputs?: ReadonlyArray<string>
  /** The caller waits this long from sending; the actor drops the request after it (504). */
  readonly timeoutMs?: number
}

export type ReplyOutputs = HostTensor | Readonly<Record<string, HostTensor>>

export interface InferReply {
  readonly outputs: ReplyOutputs
  readonly model: string
  readonly version: number
  readonly actor: string
}

/** `standby`: a warm process with no model yet (row `model` is STANDBY_MODEL), ready to take a slot that needs a process. */
export const ActorState = {
  starting: "starting",
  serving: "serving",
  draining: "draining",
  restarting: "restarting",
  failed: "failed",
  standby: "standby"
} as const
export type ActorState = (typeof ActorState)[keyof typeof ActorState]

/** The `model` of a standby's status row (`starting` until its runtime is up, then `standby`): it has none. */
export const STANDBY_MODEL = ""

/** A standby's row, not a model's replica. */
export const isStandby = (actor: { readonly model: string }): boolean => actor.model === STANDBY_MODEL

export interface ActorStatus {
  readonly id: string
  readonly model: string
  readonly pid: number | null
  readonly state: ActorState
  readonly version: number
  readonly loads: number
  readonly restarts: number
  readonly served: number
  readonly errors: number
  readonly inflight: number
  /** Model invocations; fewer than `served` when requests were batched together. */
  readonly calls?: number
  /** Live tfjs tensors in the actor process (flat while it serves: no leak). */
  readonly tensors: number
  /** Resident memory of the actor process, in bytes. */
  readonly rssBytes: number
  /** The batch limit the actor applies now, and where it comes from (config, measured, …). */
  readonly batching?: BatchLimit
  /** When the current process started (epoch ms). */
  readonly startedAt?: number
  /** How many times this slot was replaced by a fresh process on purpose (recycling). */
  readonly recycled?: number
  /** How the slot's previous process ended, if it has ended before. */
  readonly lastExit?: string
  /** The slot's latest exits (at most 5), oldest first. */
  readonly exits?: ReadonlyArray<{ readonly at: number; readonly reason: string }>
  /** The supervisor that owns the actor (set when statuses of several supervisors are merged). */
  readonly supervisor?: string
}

/** A supervisor node of the tree: the root, or one model's supervisor. */
export interface SupervisorNode {
  readonly name: string
  readonly strategy: string
  readonly intensity: number
  readonly periodMs: number
  readonly state: "running" | "restarting" | "failed"
  /** Restarts inside its current intensity window. */
  readonly recentRestarts: number
  /** Times its parent restarted it after it gave up. */
  readonly escalations: number
  /** For an autoscaled model: its replicas, the target and why. */
  readonly autoscale?: AutoscaleStatus
}

/** What a model's autoscaler decided last, as status shows it. */
export interface AutoscaleStatus {
  readonly replicas: number
  readonly target: number
  readonly reason: string
  /** Average requests in flight over the lookback window, every replica together. */
  readonly observed: number
  readonly min: number
  readonly max: number
  /** Replicas the policy wanted beyond what `supervisor.maxActors` left it. */
  readonly wantedMore?: number
  /** On a cluster: the target of every supervisor together, and how many share it. */
  readonly cluster?: { readonly target: number; readonly supervisors: number; readonly rank: number }
}

export interface SupervisorStatus {
  readonly supervisor: { readonly id: string; readonly pid: number; readonly host: string; readonly startedAt?: number }
  readonly actors: ReadonlyArray<ActorStatus>
  /** The tree: the root first, then each model's supervisor in start order. */
  readonly tree?: { readonly root: SupervisorNode; readonly models: ReadonlyArray<SupervisorNode> }
}

/** `started`: a process is serving (after loading its model); `restarted`: a slot's replacement was forked. */
export const LifecycleEventType = {
  started: "started",
  exited: "exited",
  restarted: "restarted",
  escalated: "escalated",
  recycled: "recycled",
  scaled: "scaled",
  /** A replica's canary guard crossed a threshold and ended the canary (reason, threshold and figures given). */
  canaryAborted: "canaryAborted"
} as const
export type LifecycleEventType = (typeof LifecycleEventType)[keyof typeof LifecycleEventType]

/** Published on `<prefix>.events.<model>` (JSON) and logged, one per lifecycle change; readers decode it with this Schema. */
export const LifecycleEvent = Schema.Struct({
  type: Schema.Literals(Object.values(LifecycleEventType)),
  model: Schema.String,
  supervisor: Schema.String,
  at: Schema.Number,
  actor: Schema.optionalKey(Schema.String),
  pid: Schema.optionalKey(Schema.Number),
  reason: Schema.optionalKey(Schema.String),
  restarts: Schema.optionalKey(Schema.Number),
  replicas: Schema.optionalKey(Schema.Number),
  /** For `started`: how long the model took to load. */
  loadMs: Schema.optionalKey(Schema.Number),
  /** For an autoscaler's `scaled`: the average requests in flight it saw over the lookback window. */
  observed: Schema.optionalKey(Schema.Number),
  /** For an autoscaler's `scaled`: the replicas its policy wanted (above `replicas` when the host budget binds). */
  target: Schema.optionalKey(Schema.Number),
  /** For an autoscaler's `scaled`: who decided (`autoscale@<supervisor id>`). */
  decidedBy: Schema.optionalKey(Schema.String),
  /** For `canaryAborted`: the guard threshold crossed (`min-agreement`, `max-error-rate`, `max-p99-ratio`). */
  threshold: Schema.optionalKey(Schema.String),
  /** For `canaryAborted`: the figures the guard decided on (samples, the value, the limit, the window). */
  figures: Schema.optionalKey(Schema.Record(Schema.String, Schema.Number))
})
export type LifecycleEvent = typeof LifecycleEvent.Type

/** A supervisor's answer to a control command; `done` lists the actor ids it acted on. Decoded with this Schema. */
export const ControlReply = Schema.Struct({
  supervisor: Schema.String,
  done: Schema.Array(Schema.String),
  error: Schema.optionalKey(Schema.String)
})
export type ControlReply = typeof ControlReply.Type

/**
 * A replica's report after a new version was published: swapped in, or refused with the cause.
 * Published as JSON on the model's update-ack subject; readers decode it with this Schema.
 */
export const UpdateAck = Schema.Struct({
  actor: Schema.String,
  model: Schema.String,
  version: Schema.Number,
  ok: Schema.Boolean,
  error: Schema.optionalKey(Schema.String),
  loads: Schema.Number
})
export type UpdateAck = typeof UpdateAck.Type

/** A live supervisor, as it announces itself in the deployment's `<prefix>_supervisors` bucket. */
export const SupervisorMember = Schema.Struct({
  id: Schema.String,
  host: Schema.String,
  pid: Schema.Number,
  models: Schema.Array(Schema.String),
  startedAt: Schema.Number
})
export type SupervisorMember = typeof SupervisorMember.Type

/** What a supervisor running an autoscaled model publishes each time it samples it (JSON on `<prefix>.autoscale.<model>`). */
const Count = Schema.Number.check(Schema.isGreaterThanOrEqualTo(0))

export const AutoscaleReport = Schema.Struct({
  supervisor: Schema.String,
  /** Its replicas of the model (started or not). */
  actors: Count,
  /** Of those, the ones serving. */
  replicas: Count,
  inflight: Count,
  refused: Count,
  leftQueueGroup: Count,
  held: Count,
  /** Batch chunks queued or being worked for the model (absent from supervisors that do not read it). */
  queued: Schema.optionalKey(Count),
  /** The cluster total it decided last; absent until its first decision. */
  target: Schema.optionalKey(Count)
})
export type AutoscaleReport = typeof AutoscaleReport.Type
