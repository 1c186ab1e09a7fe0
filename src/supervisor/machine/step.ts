// One transition in progress: the state as it changes and the commands it has issued so far, with
// the small edits every handler shares (update a child, start or stop an incarnation, settle waiters).
import type { ChildSpec, Shutdown } from "./childSpec.js"
import type { Command, EmitFields, Env } from "./eventsAndCommands.js"
import { type Child, type Incarnation, newIncarnation, type SupervisorState } from "./state.js"

export interface Step {
  state: SupervisorState
  readonly commands: Array<Command>
  readonly env: Env
}

export const beginStep = (state: SupervisorState, env: Env): Step => ({ state, commands: [], env })

export const isWorker = (spec: ChildSpec): boolean => spec.type !== "supervisor"

export const childById = (step: Step, id: string): Child | undefined =>
  step.state.children.find((c) => c.spec.id === id)

/** Replaces child `id` with `change(child)`. */
export const updateChild = (step: Step, id: string, change: (child: Child) => Child): void => {
  step.state = { ...step.state, children: step.state.children.map((c) => (c.spec.id === id ? change(c) : c)) }
}

export const emit = (
  step: Step,
  type: Extract<Command, { _tag: "Emit" }>["type"],
  id: string | undefined,
  n: number | undefined,
  fields: EmitFields = {}
): void => {
  step.commands.push({ _tag: "Emit", type, id, n, fields })
}

export const log = (step: Step, level: "info" | "warning" | "error", message: string): void => {
  step.commands.push({ _tag: "Log", level, message })
}

const silenceKey = (id: string, n: number) => `silence:${id}:${n}`
const restartKey = (id: string) => `restart:${id}`

/** How long an incarnation may stay silent: the start timeout until its first report, then the hang timeout. */
export const silenceLimitMs = (spec: ChildSpec, reported: boolean): number | undefined =>
  spec.hangTimeoutMs === undefined || reported
    ? spec.hangTimeoutMs
    : Math.max(spec.hangTimeoutMs, spec.startTimeoutMs ?? spec.hangTimeoutMs)

/** (Re)arms the silence timer of incarnation `n` of a child that must report within its limit. */
export const armSilence = (step: Step, spec: ChildSpec, n: number, reported = true): void => {
  const delayMs = silenceLimitMs(spec, reported)
  if (delayMs === undefined) return
  step.commands.push({
    _tag: "SetTimer",
    key: silenceKey(spec.id, n),
    delayMs,
    event: { _tag: "SilenceDue", id: spec.id, n }
  })
}

/** A new incarnation of `spec`: takes the next number, starts it and arms its silence timer. */
export const launch = (step: Step, spec: ChildSpec): Incarnation => {
  const n = step.state.nextIncarnation
  step.state = { ...step.state, nextIncarnation: n + 1 }
  step.commands.push({ _tag: "Start", id: spec.id, n, spec })
  armSilence(step, spec, n, false)
  return newIncarnation(n, step.env.now)
}

/** Stops incarnation `n` of a child (its exit is no longer watched once it left the state). */
export const stop = (step: Step, spec: ChildSpec, n: number, shutdown: Shutdown, wait: boolean): void => {
  step.commands.push({ _tag: "CancelTimer", key: silenceKey(spec.id, n) })
  step.commands.push({ _tag: "Stop", id: spec.id, n, shutdown, wait })
}

export const cancelSilence = (step: Step, spec: ChildSpec, n: number): void => {
  step.commands.push({ _tag: "CancelTimer", key: silenceKey(spec.id, n) })
}

/** Schedules RestartDue for the child after `delayMs`; returns the token that makes older timers stale. */
export const scheduleRestartTimer = (step: Step, id: string, delayMs: number): number => {
  const token = step.state.nextToken
  step.state = { ...step.state, nextToken: token + 1 }
  step.commands.push({ _tag: "SetTimer", key: restartKey(id), delayMs, event: { _tag: "RestartDue", id, token } })
  return token
}

export const cancelRestartTimer = (step: Step, id: string): void => {
  step.commands.push({ _tag: "CancelTimer", key: restartKey(id) })
}

/**
 * Settles the operator calls waiting on a child: `replaced` marks it done for them. A call is
 * answered once none of its children is pending.
 */
export const settleWaiters = (step: Step, id: string, replaced: boolean, which?: (after: number) => boolean): void => {
  const child = childById(step, id)
  if (child === undefined || child.waiting.length === 0) return
  const settled = child.waiting.filter((w) => which === undefined || which(w.after))
  if (settled.length === 0) return
  updateChild(step, id, (c) => ({ ...c, waiting: c.waiting.filter((w) => !settled.includes(w)) }))
  for (const { call } of settled) {
    const pendingCall = step.state.calls.get(call)
    if (pendingCall === undefined) continue
    const pending = pendingCall.pending.filter((p) => p !== id)
    const done = replaced ? [...pendingCall.done, id] : pendingCall.done
    const calls = new Map(step.state.calls)
    if (pending.length === 0) {
      calls.delete(call)
      step.commands.push({ _tag: "Reply", call, done })
    } else {
      calls.set(call, { pending, done })
    }
    step.state = { ...step.state, calls }
  }
}

/**
 * Ends every incarnation of a child on purpose (strategy restart, scale down, giving up, shutdown):
 * the replacement at once, the serving one within its shutdown time, each awaited in turn.
 */
export const terminate = (step: Step, id: string): void => {
  const child = childById(step, id)
  if (child === undefined) return
  if (child.restartToken !== undefined) cancelRestartTimer(step, id)
  if (child.successor !== undefined) stop(step, child.spec, child.successor.n, "brutal_kill", true)
  if (child.primary !== undefined) stop(step, child.spec, child.primary.n, child.spec.shutdown, true)
  updateChild(step, id, (c) => ({ ...c, primary: undefined, successor: undefined, restartToken: undefined }))
  settleWaiters(step, id, false)
}

/** Terminates the given children in reverse start order (OTP: shutdown runs in reverse). */
export const terminateAll = (step: Step, ids: ReadonlyArray<string>): void => {
  const order = step.state.children.map((c) => c.spec.id).filter((id) => ids.includes(id))
  for (const id of order.reverse()) terminate(step, id)
}
