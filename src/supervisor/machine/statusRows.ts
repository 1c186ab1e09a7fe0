// What `modelbus status` shows of a supervisor, as pure functions of its state: a row per child
// (pid, state, counters, restarts, exits) and the supervisor's node; monotonic times become epoch ms.
import type { ActorStatus, SupervisorNode } from "../../protocol/messages.js"
import { describeExit } from "./childSpec.js"
import { inPeriod } from "./intensity.js"
import type { Child, SupervisorState } from "./state.js"

export interface StatusClock {
  /** Monotonic ms, the clock of the state. */
  readonly now: number
  /** Epoch ms at the same instant. */
  readonly wallNow: number
}

/** Epoch ms of a monotonic time. */
const wall = (clock: StatusClock, monotonic: number) => Math.round(clock.wallNow - (clock.now - monotonic))

export interface RowContext extends StatusClock {
  readonly model: string
  /** The actor id shown for a child (`iris-2@k3j9x2`). */
  readonly actorId: (childId: string) => string
  readonly pidOf: (n: number) => number | undefined
}

/** The status row of one child. */
export const childRow = (child: Child, ctx: RowContext): ActorStatus => {
  const live = child.primary
  const counters = live?.counters
  return {
    id: ctx.actorId(child.spec.id),
    model: ctx.model,
    pid: live === undefined ? null : (ctx.pidOf(live.n) ?? null),
    state: live !== undefined ? live.state : child.restartToken !== undefined ? "restarting" : "failed",
    version: counters?.version ?? 1,
    loads: counters?.loads ?? 0,
    restarts: child.restarts,
    served: counters?.served ?? 0,
    errors: counters?.errors ?? 0,
    inflight: counters?.inflight ?? 0,
    calls: counters?.calls ?? 0,
    tensors: counters?.tensors ?? 0,
    rssBytes: counters?.rssBytes ?? 0,
    ...(counters?.batching === undefined ? {} : { batching: counters.batching }),
    ...(live === undefined ? {} : { startedAt: wall(ctx, live.startedAt) }),
    recycled: child.recycled,
    ...(child.lastExit === undefined
      ? {}
      : {
          lastExit: describeExit(child.lastExit),
          exits: child.exits.map((e) => ({ at: wall(ctx, e.at), reason: e.reason }))
        })
  }
}

/** The supervisor's node in the tree; `escalations` is how often its parent restarted it. */
export const supervisorNode = (state: SupervisorState, clock: StatusClock, escalations = 0): SupervisorNode => ({
  name: state.name,
  strategy: state.flags.strategy,
  intensity: state.flags.intensity,
  periodMs: state.flags.periodMs,
  state: state.phase === "failed" ? "failed" : "running",
  recentRestarts: state.restarts.filter((t) => inPeriod(t, clock.now, state.flags.periodMs)).length,
  escalations
})
