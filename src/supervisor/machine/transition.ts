// The supervisor as one pure transition `(state, event, env) → (state, commands)`, the same at every
// level of the tree: starting children, reading their reports, silence, replacements and recycling.

import type { ChildReport, Command, Env, Event } from "./eventsAndCommands.js"
import { onExited } from "./exits.js"
import { onRestartRequested, onScaleRequested, onShutdown } from "./operatorRequests.js"
import { recycleReason } from "./recycle.js"
import type { Child, Incarnation, SupervisorState } from "./state.js"
import {
  armSilence,
  beginStep,
  childById,
  emit,
  isWorker,
  launch,
  log,
  type Step,
  settleWaiters,
  silenceLimitMs,
  stop,
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
      onScaleRequested(step, event.call, event.replicas, startChild, event.decision)
      break
    case "Shutdown":
      onShutdown(step)
      break
    default:
      // a new Event variant is handled here, or this stops compiling
      event satisfies never
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
    reported: true,
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
  const silentMs = Math.round(step.env.now - inc.lastSeen)
  if (silentMs < (silenceLimitMs(child.spec, inc.reported) ?? Number.POSITIVE_INFINITY))
    return armSilence(step, child.spec, n, inc.reported)
  updateChild(step, id, (c) =>
    c.primary?.n === n
      ? { ...c, primary: { ...c.primary, hungFor: silentMs } }
      : { ...c, successor: { ...c.successor!, hungFor: silentMs } }
  )
  log(step, "warning", `${id} (incarnation ${n}) silent for ${silentMs} ms: killing it`)
  step.commands.push({ _tag: "Stop", id, n, shutdown: "brutal_kill", wait: false })
}
