// What a supervisor's state machine reads and writes: the events its mailbox delivers (each handled
// at a monotonic `now` with one random draw) and the commands its interpreter carries out, in order.
import type { ActorCounters, ProcessState } from "../../protocol/ipc.js"
import type { LifecycleEventType } from "../../protocol/messages.js"
import type { ChildSpec, ExitReason, Shutdown } from "./childSpec.js"

/** What a running child tells its supervisor. */
export type ChildReport =
  | { readonly _tag: "Ready"; readonly loadMs?: number; readonly counters?: ActorCounters }
  | { readonly _tag: "Heartbeat"; readonly state: ProcessState; readonly counters?: ActorCounters }
  | { readonly _tag: "Draining"; readonly counters?: ActorCounters }

export type Event =
  /** Start every child at once, in start order: none waits for another to serve (sent once, first). */
  | { readonly _tag: "Init" }
  | { readonly _tag: "Reported"; readonly id: string; readonly n: number; readonly report: ChildReport }
  | { readonly _tag: "Exited"; readonly id: string; readonly n: number; readonly reason: ExitReason }
  /** A delayed restart (backoff) is due. */
  | { readonly _tag: "RestartDue"; readonly id: string; readonly token: number }
  /** An incarnation's silence timer fired. */
  | { readonly _tag: "SilenceDue"; readonly id: string; readonly n: number }
  /** Replace the targeted children (all when `target` is undefined) without a gap. */
  | { readonly _tag: "RestartRequested"; readonly call: number; readonly target: string | undefined }
  /** Set the number of children; `decision` says why when the autoscaler asks (else an operator did). */
  | {
      readonly _tag: "ScaleRequested"
      readonly call: number
      readonly replicas: number
      readonly decision?: ScaleDecision
    }
  /** Stop every child in reverse start order, then stop. */
  | { readonly _tag: "Shutdown" }

/** What the environment supplies with each event. */
export interface Env {
  /** Monotonic time in ms. */
  readonly now: number
  /** A random number in [0, 1) (from Effect's Random), for backoff jitter. */
  readonly random: number
}

/** Why a supervisor stopped supervising: it could not start, or it gave up. */
export interface Failure {
  readonly kind: "startFailed" | "gaveUp"
  readonly message: string
}

/** What an autoscaling decision was made on, carried into its `scaled` event. */
export interface ScaleDecision {
  /** Average requests in flight over the model's replicas in the lookback window. */
  readonly observed: number
  /** The replicas the policy wanted (above `replicas` when the host budget binds). */
  readonly target: number
  readonly reason: string
  /** Who decided: `autoscale@<supervisor id>`. */
  readonly decidedBy: string
}

export interface EmitFields {
  readonly reason?: string
  readonly restarts?: number
  readonly replicas?: number
  readonly loadMs?: number
  readonly observed?: number
  readonly target?: number
  readonly decidedBy?: string
}

export type Command =
  | { readonly _tag: "Start"; readonly id: string; readonly n: number; readonly spec: ChildSpec }
  /** End incarnation `n`: gracefully within `shutdown` ms or at once; `wait` blocks the mailbox until it is gone. */
  | {
      readonly _tag: "Stop"
      readonly id: string
      readonly n: number
      readonly shutdown: Shutdown
      readonly wait: boolean
    }
  /** Deliver `event` after `delayMs`, replacing any timer of the same key. */
  | { readonly _tag: "SetTimer"; readonly key: string; readonly delayMs: number; readonly event: Event }
  | { readonly _tag: "CancelTimer"; readonly key: string }
  /** A lifecycle event about child `id` (undefined: about this supervisor) and its incarnation `n`, whose pid the interpreter knows. */
  | {
      readonly _tag: "Emit"
      readonly type: LifecycleEventType
      readonly id: string | undefined
      readonly n: number | undefined
      readonly fields: EmitFields
    }
  | { readonly _tag: "Log"; readonly level: "info" | "warning" | "error"; readonly message: string }
  /** Answer operator call `call` with the ids of the children it acted on. */
  | { readonly _tag: "Reply"; readonly call: number; readonly done: ReadonlyArray<string> }
  /** Every child serves: the supervisor has started. */
  | { readonly _tag: "Started" }
  | { readonly _tag: "Fail"; readonly failure: Failure }
  /** Shutdown finished. */
  | { readonly _tag: "Stopped" }
