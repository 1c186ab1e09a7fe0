// The autoscaling decision as a pure function: from a model's load samples over the lookback
// window, the replicas it wants; a trend must last upscaleDelayMs (up) or downscaleDelayMs (down)
// before the target moves, and the direction changes at most once per downscaleDelayMs; a model at
// zero wakes at once when a request is held for it or batch work is queued for it, and queued batch
// work keeps at least one replica.
import type { AutoscalePolicy } from "./autoscalePolicy.js"

/** What the replicas of a model reported at one instant (monotonic ms). */
export interface LoadSample {
  readonly at: number
  /** Replicas serving when the sample was taken. */
  readonly replicas: number
  /** Requests in flight over those replicas: queued and running. */
  readonly inflight: number
  /** Requests refused with Overloaded since the previous sample. */
  readonly refused: number
  /** Times a replica left the queue group because it was full, since the previous sample. */
  readonly leftQueueGroup: number
  /** Requests the supervisor holds because the model has no replica (counted in `inflight` too). */
  readonly held: number
  /** Batch-job chunks queued for the model or being worked (its work consumer's pending and unacked). */
  readonly queued: number
}

export type Direction = "up" | "down"

/** What the decision remembers between calls. */
export interface AutoscaleMemory {
  readonly target: number
  /** Load has wanted more (up) or fewer (down) replicas than the target without a break since `since`. */
  readonly pressure: { readonly direction: Direction; readonly since: number } | undefined
  readonly lastChange: { readonly at: number; readonly direction: Direction } | undefined
}

export interface Decision {
  readonly memory: AutoscaleMemory
  /** The replica count wanted now (memory.target). */
  readonly target: number
  /** Whether the target moved on this call. */
  readonly changed: boolean
  /** Why the target is what it is, in a few words. */
  readonly reason: string
  /** The replicas the window's load asks for, inside min..max. */
  readonly wanted: number
  /** The window's average requests in flight (over every replica). */
  readonly observed: number
}

export const initialMemory = (target: number): AutoscaleMemory => ({
  target,
  pressure: undefined,
  lastChange: undefined
})

/** The window after `sample`: samples older than `lookbackMs` before it dropped. */
export const record = (
  window: ReadonlyArray<LoadSample>,
  sample: LoadSample,
  lookbackMs: number
): ReadonlyArray<LoadSample> => [...window.filter((s) => s.at > sample.at - lookbackMs), sample]

const clamp = (n: number, policy: AutoscalePolicy) => Math.min(policy.max, Math.max(policy.min, n))

const round = (n: number) => Math.round(n * 100) / 100

/**
 * The replicas the window asks for: its average in flight over `targetInflight` each; a replica
 * that refused or left the queue group was full, so the true load is more than it shows and one
 * more replica than served is wanted; batch work queued in the newest sample asks for one replica at
 * least (it runs while online traffic leaves replicas idle). An empty window asks for what there is.
 */
export const wantedReplicas = (
  policy: AutoscalePolicy,
  window: ReadonlyArray<LoadSample>,
  current: number
): { readonly wanted: number; readonly observed: number; readonly saturated: boolean } => {
  if (window.length === 0) return { wanted: current, observed: 0, saturated: false }
  const observed = window.reduce((sum, s) => sum + s.inflight, 0) / window.length
  const saturated = window.some((s) => s.refused > 0 || s.leftQueueGroup > 0)
  const byLoad = Math.ceil(round(observed / policy.targetInflight))
  const served = Math.max(...window.map((s) => s.replicas))
  const forBatch = (window.at(-1)?.queued ?? 0) > 0 ? 1 : 0
  return {
    wanted: clamp(Math.max(forBatch, saturated ? Math.max(byLoad, served + 1) : byLoad), policy),
    observed: round(observed),
    saturated
  }
}

const hold = (memory: AutoscaleMemory, reason: string, wanted: number, observed: number): Decision => ({
  memory,
  target: memory.target,
  changed: false,
  reason,
  wanted,
  observed
})

/** The target for the window at `now` (monotonic ms), and what to remember for the next call. */
export const decide = (
  policy: AutoscalePolicy,
  memory: AutoscaleMemory,
  window: ReadonlyArray<LoadSample>,
  now: number
): Decision => {
  const target = clamp(memory.target, policy)
  if (target !== memory.target) {
    // the policy's bounds moved (an operator changed min or max): follow them at once
    const direction: Direction = target > memory.target ? "up" : "down"
    const moved = { target, pressure: undefined, lastChange: { at: now, direction } }
    const { wanted, observed } = wantedReplicas(policy, window, target)
    return { memory: moved, target, changed: true, reason: `bounds ${policy.min}..${policy.max}`, wanted, observed }
  }
  const { wanted, observed, saturated } = wantedReplicas(policy, window, target)
  const newest = window.at(-1)
  const waiting =
    (newest?.held ?? 0) > 0 ? "a held request" : (newest?.queued ?? 0) > 0 ? "queued batch work" : undefined
  if (target === 0 && waiting !== undefined && policy.max > 0) {
    // a caller or a job waits: no delay and no direction rule hold a wake back (start failures back off instead)
    const woken = Math.max(1, wanted)
    const moved = { target: woken, pressure: undefined, lastChange: { at: now, direction: "up" as const } }
    return { memory: moved, target: woken, changed: true, reason: `woken by ${waiting}`, wanted, observed }
  }
  if (wanted === target) return hold({ ...memory, pressure: undefined }, "at target", wanted, observed)
  const direction: Direction = wanted > target ? "up" : "down"
  const pressure = memory.pressure?.direction === direction ? memory.pressure : { direction, since: now }
  const waited = now - pressure.since
  const delayMs = direction === "up" ? policy.upscaleDelayMs : policy.downscaleDelayMs
  const what = direction === "up" ? (saturated ? "replicas full" : "load above target") : "load below target"
  if (waited < delayMs)
    return hold({ ...memory, pressure }, `${what}: waiting ${delayMs - waited} ms more`, wanted, observed)
  const last = memory.lastChange
  if (last !== undefined && last.direction !== direction && now - last.at < policy.downscaleDelayMs) {
    const left = policy.downscaleDelayMs - (now - last.at)
    return hold({ ...memory, pressure }, `${what}: direction changed recently, ${left} ms to go`, wanted, observed)
  }
  // the window is the last lookbackMs: what it wants now is the smoothed need after a lasting trend
  const moved = { target: wanted, pressure: undefined, lastChange: { at: now, direction } }
  return { memory: moved, target: wanted, changed: true, reason: `${what} for ${waited} ms`, wanted, observed }
}
