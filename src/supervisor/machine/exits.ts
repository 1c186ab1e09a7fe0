// OTP's rules when a child exits, as transitions: the restart type, the intensity window (give up,
// escalate), the strategy's siblings, backoff before the next start, and a start that failed.
import { backoffDelay, nextAttempt } from "./backoff.js"
import { describeExit, type ExitReason, shouldRestart } from "./childSpec.js"
import { recordRestart } from "./intensity.js"
import { type Child, EXIT_HISTORY, type SupervisorState } from "./state.js"
import {
  cancelSilence,
  childById,
  emit,
  isWorker,
  launch,
  log,
  type Step,
  scheduleRestartTimer,
  settleWaiters,
  stop,
  terminateAll,
  updateChild
} from "./step.js"
import { childrenToRestart } from "./strategy.js"

export const onExited = (step: Step, id: string, n: number, exit: ExitReason): void => {
  const child = childById(step, id)
  if (child === undefined) return
  if (child.successor?.n === n) return onSuccessorExit(step, child, exit)
  if (child.primary?.n !== n) return
  const inc = child.primary
  const reason: ExitReason = inc.hungFor === undefined ? exit : { kind: "hang", silentMs: inc.hungFor }
  const described = describeExit(reason)
  cancelSilence(step, child.spec, n)
  updateChild(step, id, (c) => ({
    ...c,
    primary: undefined,
    lastExit: reason,
    exits: [...c.exits, { at: step.env.now, reason: described }].slice(-EXIT_HISTORY)
  }))
  if (isWorker(child.spec)) emit(step, "exited", id, n, { reason: described })
  else emit(step, "escalated", id, undefined, { reason: describeChildFailure(reason) })
  if (step.state.phase === "starting" && inc.state === "starting") {
    return fail(step, "startFailed", couldNotStart(step.state, child, reason))
  }
  if (!shouldRestart(child.spec.restart, reason)) {
    // A temporary child, or a transient one that ended normally: it stays down (a replacement too).
    if (child.successor !== undefined) stop(step, child.spec, child.successor.n, "brutal_kill", false)
    updateChild(step, id, (c) => ({ ...c, successor: undefined }))
    return settleWaiters(step, id, false)
  }
  const window = recordRestart(step.state.restarts, step.env.now, step.state.flags)
  step.state = { ...step.state, restarts: window.window }
  if (window.exceeded) {
    const { intensity, periodMs } = step.state.flags
    return fail(
      step,
      "gaveUp",
      `${step.state.label} gave up: more than ${intensity} restarts within ${periodMs / 1000} s (last: ${lastWords(child, reason)})`
    )
  }
  const attempt =
    child.spec.backoff === undefined ? 0 : nextAttempt(child.attempt, step.env.now - inc.startedAt, child.spec.backoff)
  updateChild(step, id, (c) => ({ ...c, attempt }))
  const ids = step.state.children.map((c) => c.spec.id)
  const siblings = childrenToRestart(step.state.flags.strategy, ids, id).filter((s) => s !== id)
  terminateAll(step, siblings)
  // Started again in start order (the failed child itself possibly after its backoff).
  for (const restarted of ids.filter((c) => c === id || siblings.includes(c))) {
    if (restarted === id) restartAfterCrash(step, id, attempt)
    else restartNow(step, restarted, id)
  }
}

/** The failed child: its replacement (if one was starting) takes over, else it restarts after its backoff. */
const restartAfterCrash = (step: Step, id: string, attempt: number): void => {
  const child = childById(step, id)!
  const restarts = child.restarts + 1
  if (child.successor !== undefined) {
    const { purpose: _, ...fresh } = child.successor
    updateChild(step, id, (c) => ({ ...c, primary: fresh, successor: undefined, restarts }))
    return emit(step, "restarted", id, fresh.n, restartFields(step, child, id, restarts))
  }
  const delayMs =
    attempt === 0 || child.spec.backoff === undefined
      ? 0
      : backoffDelay(attempt - 1, child.spec.backoff, step.env.random)
  updateChild(step, id, (c) => ({ ...c, restarts }))
  if (delayMs === 0) {
    const primary = launch(step, child.spec)
    updateChild(step, id, (c) => ({ ...c, primary }))
    return emit(step, "restarted", id, primary.n, restartFields(step, child, id, restarts))
  }
  const token = scheduleRestartTimer(step, id, delayMs)
  updateChild(step, id, (c) => ({ ...c, restartToken: token }))
}

/** A sibling terminated by the strategy starts again at once, in start order. */
const restartNow = (step: Step, id: string, failed: string): void => {
  const child = childById(step, id)!
  const restarts = child.restarts + 1
  const primary = launch(step, child.spec)
  updateChild(step, id, (c) => ({ ...c, primary, restarts }))
  emit(step, "restarted", id, primary.n, restartFields(step, child, failed, restarts))
}

const restartFields = (step: Step, child: Child, failed: string, restarts: number) =>
  isWorker(child.spec)
    ? { restarts }
    : {
        restarts,
        reason: `model supervisor restarted by the ${step.state.label} (${step.state.flags.strategy}) after ${failed} gave up`
      }

const onSuccessorExit = (step: Step, child: Child, exit: ExitReason): void => {
  const successor = child.successor!
  cancelSilence(step, child.spec, successor.n)
  const blockedFor =
    child.spec.backoff === undefined ? 0 : backoffDelay(child.attempt, child.spec.backoff, step.env.random)
  updateChild(step, child.spec.id, (c) => ({
    ...c,
    successor: undefined,
    recycleBlockedUntil: step.env.now + blockedFor
  }))
  emit(step, "exited", child.spec.id, successor.n, { reason: `replacement ${describeExit(exit)}` })
  settleWaiters(step, child.spec.id, false)
}

/** Stops every child in reverse order and reports why this supervisor stopped supervising. */
const fail = (step: Step, kind: "startFailed" | "gaveUp", message: string): void => {
  terminateAll(
    step,
    step.state.children.map((c) => c.spec.id)
  )
  log(step, "error", message)
  for (const [call, pending] of step.state.calls) step.commands.push({ _tag: "Reply", call, done: pending.done })
  step.state = { ...step.state, phase: "failed", calls: new Map() }
  step.commands.push({ _tag: "Fail", failure: { kind, message } })
}

/** What ended a child, in words: a worker's exit, or a nested supervisor's own account (it names its model). */
const lastWords = (child: Child, reason: ExitReason): string =>
  isWorker(child.spec)
    ? `replica ${child.spec.id} ${describeExit(reason)}`
    : reason.kind === "gaveUp" || reason.kind === "startFailed"
      ? reason.message
      : `model ${child.spec.id} ${describeExit(reason)}`

/** Why the start failed: a nested supervisor's message is passed up as it is, a worker's exit is described. */
const couldNotStart = (state: SupervisorState, child: Child, reason: ExitReason): string => {
  if (!isWorker(child.spec) && reason.kind === "startFailed") return reason.message
  const how =
    reason.kind === "startFailed" ? `failed to start: ${reason.message}` : `${describeExit(reason)} before it served`
  return `${state.label} could not start: replica ${child.spec.id} ${how}`
}

const describeChildFailure = (reason: ExitReason): string =>
  reason.kind === "gaveUp" || reason.kind === "startFailed" ? reason.message : describeExit(reason)
