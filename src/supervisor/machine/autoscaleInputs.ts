// What the autoscaler reads and bounds, as pure functions: a load sample from a model supervisor's
// children (refusals counted since the previous sample, per process) and the host budget's grant.
import type { LoadSample } from "./autoscale.js"
import type { SupervisorState } from "./state.js"

/** The cumulative refusal counters last seen, per process incarnation. */
export type SeenCounters = ReadonlyMap<number, { readonly overloaded: number; readonly leftQueueGroup: number }>

/** The sample of a model's replicas at `now`, and the counters to compare the next sample with. */
export const loadSampleOf = (
  state: SupervisorState,
  seen: SeenCounters,
  now: number,
  held = 0,
  queued = 0
): { readonly sample: LoadSample; readonly seen: SeenCounters } => {
  const serving = state.children.flatMap((c) => (c.primary?.state === "serving" ? [c.primary] : []))
  const next = new Map<number, { overloaded: number; leftQueueGroup: number }>()
  let inflight = held
  let refused = 0
  let leftQueueGroup = 0
  for (const p of serving) {
    const counters = p.counters
    if (counters === undefined) continue
    const overloaded = counters.overloaded ?? 0
    const left = counters.leftQueueGroup ?? 0
    const before = seen.get(p.n) ?? { overloaded: 0, leftQueueGroup: 0 }
    inflight += counters.inflight
    refused += Math.max(0, overloaded - before.overloaded)
    leftQueueGroup += Math.max(0, left - before.leftQueueGroup)
    next.set(p.n, { overloaded, leftQueueGroup: left })
  }
  return { sample: { at: now, replicas: serving.length, inflight, refused, leftQueueGroup, held, queued }, seen: next }
}

/** The newest exit of any of the supervisor's children: when and why (undefined: none yet). */
export const latestExit = (state: SupervisorState): { readonly at: number; readonly reason: string } | undefined =>
  state.children
    .flatMap((c) => c.exits)
    .reduce<{ at: number; reason: string } | undefined>((a, e) => (a === undefined || e.at > a.at ? e : a), undefined)

/**
 * The replicas a model may have: its target, unless growing past `current` would take the
 * supervisor's actors (others' plus this model's) above `maxActors`; shrinking is never held back.
 */
export const grant = (
  target: number,
  current: number,
  otherActors: number,
  maxActors: number
): { readonly replicas: number; readonly wantedMore: number } => {
  if (target <= current) return { replicas: target, wantedMore: 0 }
  const replicas = Math.min(target, Math.max(current, maxActors - otherActors))
  return { replicas, wantedMore: target - replicas }
}
