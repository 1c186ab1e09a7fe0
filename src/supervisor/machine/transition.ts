// The supervisor as one pure transition `(state, event, env) → (state, commands)`, the same at every
// level of the tree: starting children, reading their reports, and OTP's rules when one exits.
import { backoffDelay, nextAttempt } from "../backoff.js"
import { describeExit, type ExitReason, shouldRestart } from "../childSpec.js"
import { recordRestart } from "../intensity.js"
import { recycleReason } from "../recycle.js"
import { childrenToRestart } from "../strategy.js"
import { onRestartRequested, onScaleRequested, onShutdown } from "./operations.js"
import type { ChildReport, Command, Env, Event } from "./protocol.js"
import { type Child, EXIT_HISTORY, type Incarnation, type SupervisorState } from "./state.js"
import {
  armSilence,
  beginStep,
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

export interface Transition {
  readonly state: SupervisorState
  readonly commands: ReadonlyArray<Command>
}

export const transition = (state: SupervisorState, event: Event, env: Env): Transition => {
  const step = beginStep(state, env)
  if (state.phase === "failed" || state.phase === "stopped") {
    // A supervisor that stopped supervising only answers calls (with nothing done).
    if (event._tag === "RestartRequested" || event._tag === "ScaleRequested") {
      step.commands.push({ _tag: "Reply", call: event.call, done: [] })
    }
    if (event._tag === "Shutdown" && state.phase === "failed") {
      step.state = { ...state, phase: "stopped" }
      step.commands.push({ _tag: "Stopped" })
    }
    return step
  }
  switch (event._tag) {
    case "Init":
      for (const child of state.children) startChild(step, child)
      checkStarted(step)
      break
    case "Reported":
      onReported(step, event.id, event.n, event.report)
      break
    case "Exited":
      onExited(step, event.id, event.n, event.reason)
      break
    case "RestartDue": {
      const child = childById(step, event.id)
      if (child?.restartToken === event.token && child.primary === undefined) relaunch(step, child)
      break
    }
    case "SilenceDue":
      onSilence(step, event.id, event.n)
      break
    case "RestartRequested":
      onRestartRequested(step, event.call, event.target)
      break
    case "ScaleRequested":
      onScaleRequested(step, event.call, event.replicas, startChild)
      break
    case "Shutdown":
      onShutdown(step)
      break
  }
  return step
}

const startChild = (step: Step, child: Child): void => {
  const primary = launch(step, child.spec)
  updateChild(step, child.spec.id, (c) => ({ ...c, primary }))
}

/** Starts the child's next incarnation after a restart decision (its restart already counted). */
const relaunch = (step: Step, child: Child): void => {
  const primary = launch(step, child.spec)
  updateChild(step, child.spec.id, (c) => ({ ...c, primary, restartToken: undefined }))
  emit(step, "restarted", child.spec.id, primary.n, { restarts: child.restarts })
}

/** Ends the start phase once every child's current incarnation has served. */
const checkStarted = (step: Step): void => {
  if (step.state.phase !== "starting") return
  if (!step.state.children.every((c) => c.primary?.state === "serving")) return
  step.state = { ...step.state, phase: "running" }
  step.commands.push({ _tag: "Started" })
}

const stateAfter = (report: ChildReport, current: Incarnation["state"]): Incarnation["state"] =>
  report._tag === "Ready"
    ? "serving"
    : report._tag === "Draining"
      ? "draining"
      : report.state === "starting"
        ? current
        : report.state

const onReported = (step: Step, id: string, n: number, report: ChildReport): void => {
  const child = childById(step, id)
  if (child === undefined) return
  const which = child.primary?.n === n ? "primary" : child.successor?.n === n ? "successor" : undefined
  if (which === undefined) return
  const before = which === "primary" ? child.primary! : child.successor!
  const updated = {
    ...before,
    lastSeen: step.env.now,
    state: stateAfter(report, before.state),
    counters: report.counters ?? before.counters
  }
  updateChild(step, id, (c) =>
    which === "primary" ? { ...c, primary: updated } : { ...c, successor: { ...c.successor!, ...updated } }
  )
  armSilence(step, child.spec, n)
  if (report._tag === "Ready" && isWorker(child.spec)) {
    emit(step, "started", id, n, report.loadMs === undefined ? {} : { loadMs: Math.round(report.loadMs) })
  }
  if (which === "successor" && updated.state === "serving") promote(step, id)
  else if (which === "primary" && updated.state === "serving") {
    settleWaiters(step, id, true, (after) => n > after)
    maybeRecycle(step, id)
  }
  checkStarted(step)
}

/** The replacement serves: it becomes the primary and the old one drains. */
const promote = (step: Step, id: string): void => {
  const child = childById(step, id)!
  const { successor, primary } = child
  if (successor === undefined) return
  const { purpose, ...fresh } = successor
  const restarts = child.restarts + (purpose === "restart" ? 1 : 0)
  const recycled = child.recycled + (purpose === "recycle" ? 1 : 0)
  updateChild(step, id, (c) => ({ ...c, primary: fresh, successor: undefined, restarts, recycled }))
  emit(step, purpose === "restart" ? "restarted" : "recycled", id, fresh.n, { restarts })
  if (primary !== undefined) stop(step, child.spec, primary.n, child.spec.shutdown, false)
  settleWaiters(step, id, true, (after) => fresh.n > after)
}

const maybeRecycle = (step: Step, id: string): void => {
  const child = childById(step, id)!
  const counters = child.primary?.counters
  if (child.successor !== undefined || counters === undefined || step.env.now < child.recycleBlockedUntil) return
  const why = recycleReason(counters, child.spec.recycle)
  if (why === undefined) return
  log(step, "info", `${id} recycling: ${why}`)
  const successor = { ...launch(step, child.spec), purpose: "recycle" as const }
  updateChild(step, id, (c) => ({ ...c, successor }))
}

const onSilence = (step: Step, id: string, n: number): void => {
  const child = childById(step, id)
  const inc = child?.primary?.n === n ? child.primary : child?.successor?.n === n ? child.successor : undefined
  if (child === undefined || inc === undefined || inc.hungFor !== undefined) return
  const silentMs = step.env.now - inc.lastSeen
  if (silentMs < (child.spec.hangTimeoutMs ?? Number.POSITIVE_INFINITY)) return armSilence(step, child.spec, n)
  updateChild(step, id, (c) =>
    c.primary?.n === n
      ? { ...c, primary: { ...c.primary, hungFor: silentMs } }
      : { ...c, successor: { ...c.successor!, hungFor: silentMs } }
  )
  log(step, "warning", `${id} (incarnation ${n}) silent for ${silentMs} ms: killing it`)
  step.commands.push({ _tag: "Stop", id, n, shutdown: "brutal_kill", wait: false })
}

const onExited = (step: Step, id: string, n: number, exit: ExitReason): void => {
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
