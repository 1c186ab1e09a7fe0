// The state of one supervisor as plain data: its flags, its children in start order (each child's
// process incarnations and restart history) and its restart window; times are monotonic ms.
import type { ActorCounters, ProcessState } from "../../protocol/ipc.js"
import type { ChildSpec, ExitReason } from "./childSpec.js"
import type { Strategy } from "./strategy.js"

/** OTP's supervisor flags: how this supervisor restarts its children, and when it gives up. */
export interface SupervisorFlags {
  readonly strategy: Strategy
  readonly intensity: number
  readonly periodMs: number
}

/** One process (or nested supervisor) of a child, from start to exit; `n` is unique per supervisor. */
export interface Incarnation {
  readonly n: number
  readonly startedAt: number
  /** Last time it reported anything (ready, heartbeat, draining); its start time until it has. */
  readonly lastSeen: number
  /** It has reported at least once: from then on silence is judged by the hang timeout. */
  readonly reported: boolean
  readonly state: ProcessState
  readonly counters: ActorCounters | undefined
  /** Set when it was killed for silence: how long it had been silent. */
  readonly hungFor: number | undefined
}

/** A replacement started while the current incarnation serves; promoted once it serves. */
export interface Successor extends Incarnation {
  readonly purpose: "restart" | "recycle"
}

/** An operator restart waiting on this child: done once an incarnation newer than `after` serves. */
export interface Waiter {
  readonly call: number
  readonly after: number
}

export interface ExitRecord {
  readonly at: number
  readonly reason: string
}

export interface Child {
  readonly spec: ChildSpec
  readonly primary: Incarnation | undefined
  readonly successor: Successor | undefined
  /** The token of the pending delayed restart (backoff), if one is scheduled. */
  readonly restartToken: number | undefined
  /** Consecutive quick crashes (0 after a process that lived `backoff.resetAfterMs`). */
  readonly attempt: number
  readonly restarts: number
  readonly recycled: number
  readonly lastExit: ExitReason | undefined
  /** The latest exits, oldest first (at most EXIT_HISTORY). */
  readonly exits: ReadonlyArray<ExitRecord>
  /** No recycling before this time (after a replacement failed to start). */
  readonly recycleBlockedUntil: number
  readonly waiting: ReadonlyArray<Waiter>
}

/** `starting` until every child first serves; `failed` after giving up; `stopped` after shutdown. */
export type Phase = "starting" | "running" | "failed" | "stopped"

/** An operator call in progress: the children it still waits for and those already replaced. */
export interface PendingCall {
  readonly pending: ReadonlyArray<string>
  readonly done: ReadonlyArray<string>
}

export interface SupervisorState {
  readonly name: string
  /** How messages name this supervisor ("model iris", "root supervisor"). */
  readonly label: string
  readonly flags: SupervisorFlags
  readonly phase: Phase
  readonly children: ReadonlyArray<Child>
  /** Restart times inside the intensity window. */
  readonly restarts: ReadonlyArray<number>
  readonly nextIncarnation: number
  readonly nextToken: number
  readonly calls: ReadonlyMap<number, PendingCall>
  /** The spec of the child at `index` (1-based) when this supervisor can scale; else undefined. */
  readonly template: ((index: number) => ChildSpec) | undefined
}

/** How many exits of a child its status remembers. */
export const EXIT_HISTORY = 5

export const newChild = (spec: ChildSpec): Child => ({
  spec,
  primary: undefined,
  successor: undefined,
  restartToken: undefined,
  attempt: 0,
  restarts: 0,
  recycled: 0,
  lastExit: undefined,
  exits: [],
  recycleBlockedUntil: 0,
  waiting: []
})

export const initialState = (options: {
  readonly name: string
  readonly label?: string
  readonly flags: SupervisorFlags
  readonly children: ReadonlyArray<ChildSpec>
  readonly template?: (index: number) => ChildSpec
}): SupervisorState => ({
  name: options.name,
  label: options.label ?? options.name,
  flags: options.flags,
  phase: "starting",
  children: options.children.map(newChild),
  restarts: [],
  nextIncarnation: 1,
  nextToken: 1,
  calls: new Map(),
  template: options.template
})

export const newIncarnation = (n: number, now: number): Incarnation => ({
  n,
  startedAt: now,
  lastSeen: now,
  reported: false,
  state: "starting",
  counters: undefined,
  hungFor: undefined
})
