// The operator's requests as transitions: restart (replace children without a gap, answered once
// their replacements serve), scale (add or remove children), and shutdown in reverse start order.
import type { EmitFields, ScaleDecision } from "./eventsAndCommands.js"
import { type Child, newChild } from "./state.js"
import { emit, launch, type Step, settleWaiters, terminateAll, updateChild } from "./step.js"

/** Replaces the targeted children (all when `target` is undefined): each fresh process serves before the old one drains. */
export const onRestartRequested = (step: Step, call: number, target: string | undefined): void => {
  const chosen = step.state.children.filter((c) => target === undefined || c.spec.id === target)
  const replaceable = chosen.filter((c) => c.primary !== undefined)
  if (replaceable.length === 0) {
    step.commands.push({ _tag: "Reply", call, done: [] })
    return
  }
  const calls = new Map(step.state.calls)
  calls.set(call, { pending: replaceable.map((c) => c.spec.id), done: [] })
  step.state = { ...step.state, calls }
  for (const child of replaceable) waitForReplacement(step, child, call)
}

const waitForReplacement = (step: Step, child: Child, call: number): void => {
  const primary = child.primary!
  if (primary.state === "starting") {
    // Already a fresh process on its way: it is the replacement.
    updateChild(step, child.spec.id, (c) => ({ ...c, waiting: [...c.waiting, { call, after: primary.n - 1 }] }))
    return
  }
  updateChild(step, child.spec.id, (c) => ({ ...c, waiting: [...c.waiting, { call, after: primary.n }] }))
  if (child.successor === undefined) {
    const successor = { ...launch(step, child.spec), purpose: "restart" as const }
    updateChild(step, child.spec.id, (c) => ({ ...c, successor }))
  } else if (child.successor.purpose === "recycle") {
    updateChild(step, child.spec.id, (c) => ({ ...c, successor: { ...c.successor!, purpose: "restart" } }))
  }
}

/** Sets the number of children (supervisors with a template only); removed ones are stopped last-first. */
export const onScaleRequested = (
  step: Step,
  call: number,
  replicas: number,
  startChild: (step: Step, child: Child) => void,
  decision?: ScaleDecision
): void => {
  const fields: EmitFields = { replicas, ...decision }
  const { template, children } = step.state
  if (template === undefined || replicas === children.length || replicas < 0) {
    step.commands.push({ _tag: "Reply", call, done: [] })
    return
  }
  if (replicas > children.length) {
    let index = Math.max(0, ...children.map((c) => indexOf(c)))
    const added: Array<Child> = []
    while (children.length + added.length < replicas) added.push(newChild(template(++index)))
    step.state = { ...step.state, children: [...children, ...added] }
    for (const child of added) startChild(step, child)
    emit(step, "scaled", undefined, undefined, fields)
    step.commands.push({ _tag: "Reply", call, done: added.map((c) => c.spec.id) })
    return
  }
  const removed = children.slice(replicas).map((c) => c.spec.id)
  terminateAll(step, removed)
  step.state = { ...step.state, children: step.state.children.slice(0, replicas) }
  emit(step, "scaled", undefined, undefined, fields)
  step.commands.push({ _tag: "Reply", call, done: removed })
}

/** The number at the end of a child id (`iris-3` → 3), 0 when there is none. */
const indexOf = (child: Child): number => Number(/(\d+)$/.exec(child.spec.id)?.[1] ?? 0)

/** Stops every child in reverse start order; pending calls are answered with what was done. */
export const onShutdown = (step: Step): void => {
  for (const child of step.state.children) settleWaiters(step, child.spec.id, false)
  terminateAll(
    step,
    step.state.children.map((c) => c.spec.id)
  )
  step.state = { ...step.state, phase: "stopped" }
  step.commands.push({ _tag: "Stopped" })
}
