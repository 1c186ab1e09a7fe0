// A model supervisor's child slots: the slot (a stable replica id and its restart history) and
// each process that runs in it, plus the pure mapping from a slot to its status row.
import type { Deferred } from "effect"
import type { ActorCounters, ProcessState } from "../protocol/ipc.js"
import type { ActorStatus } from "../protocol/messages.js"
import type { ActorProcess } from "./actorProcess.js"
import { type ChildSpec, describeExit, type ExitReason } from "./childSpec.js"

/** One process of a slot, from fork to exit. */
export interface Incarnation {
  readonly n: number
  readonly process: ActorProcess
  readonly startedAt: number
  /** Last time it reported anything (heartbeat, ready, draining). */
  lastSeen: number
  counters: ActorCounters | undefined
  state: ProcessState
  /** Set when the hang check killed it: how long it had been silent. */
  hungFor: number | undefined
}

export interface Slot {
  readonly index: number
  readonly spec: ChildSpec
  readonly actorId: string
  /** The process serving in this slot. */
  primary: Incarnation | undefined
  /** A replacement being started (recycling or an operator restart); promoted once it serves. */
  successor: Incarnation | undefined
  purpose: "recycle" | "restart" | undefined
  /** Operator restarts waiting for the replacement: true once it serves, false if it failed. */
  readonly waiting: Array<Deferred.Deferred<boolean>>
  /** A backoff timer before the next start, and the token that makes older timers stale. */
  due: ReturnType<typeof setTimeout> | undefined
  dueToken: number
  /** Consecutive quick crashes (0 after a process that lived long enough). */
  attempt: number
  restarts: number
  recycled: number
  lastExit: ExitReason | undefined
  /** The latest abnormal or normal exits of this slot's processes, oldest first. */
  readonly exits: Array<{ readonly at: number; readonly reason: string }>
  /** No recycling attempt before this time (after a replacement failed to start). */
  recycleBlockedUntil: number
}

/** The status row of a slot (pure). */
export const slotStatus = (slot: Slot, model: string): ActorStatus => {
  const live = slot.primary
  const counters = live?.counters
  return {
    id: slot.actorId,
    model,
    pid: live?.process.pid ?? null,
    state: live !== undefined ? live.state : slot.due !== undefined ? "restarting" : "failed",
    version: counters?.version ?? 1,
    loads: counters?.loads ?? 0,
    restarts: slot.restarts,
    served: counters?.served ?? 0,
    errors: counters?.errors ?? 0,
    inflight: counters?.inflight ?? 0,
    calls: counters?.calls ?? 0,
    tensors: counters?.tensors ?? 0,
    rssBytes: counters?.rssBytes ?? 0,
    ...(live === undefined ? {} : { startedAt: live.startedAt }),
    recycled: slot.recycled,
    ...(slot.lastExit === undefined ? {} : { lastExit: describeExit(slot.lastExit), exits: [...slot.exits] })
  }
}
