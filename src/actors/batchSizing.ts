// How an actor sizes its batches from measurement (pure): which batch sizes its probe times and in
// what order, within a time budget, and which size gives the most samples per second from those times.
import type { ModelSignature } from "../model/specs.js"

export interface BatchProbeOptions {
  /** The largest size tried; sizes are the powers of two from 1 up to it. */
  readonly maxSize: number
  /** Model-call time (CPU) the whole probe may spend, in ms (the first pass and the timed passes together). */
  readonly budgetMs: number
  /** Timed calls per size, after an untimed warm-up call (at most; fewer when the budget runs out). */
  readonly repetitions: number
  /** The smallest size reaching this fraction of the best samples per second below the best is chosen. */
  readonly tolerance: number
  /** The limit while the probe runs, and when it cannot decide (fewer than two sizes timed). */
  readonly fallback: number
}

export const BATCH_PROBE: BatchProbeOptions = {
  maxSize: 256,
  budgetMs: 300,
  repetitions: 5,
  tolerance: 0.03,
  fallback: 32
}

/**
 * Why a model's batches cannot be sized by timing zero inputs, and the limit it gets instead; undefined
 * when they can. A fixed batch dimension runs one request per call; a dynamic dimension besides the batch
 * makes a call's cost depend on what the requests hold, which zeros of length 1 do not tell.
 */
export const probeBlocker = (
  signature: ModelSignature,
  options: BatchProbeOptions
): { readonly size: number; readonly reason: string } | undefined => {
  if (![...signature.inputs, ...signature.outputs].every((t) => t.shape[0] === null))
    return { size: 1, reason: "its batch dimension is fixed" }
  const ragged = signature.inputs.find((t) => t.shape.slice(1).includes(null))
  return ragged === undefined
    ? undefined
    : { size: options.fallback, reason: `input "${ragged.name}" has a dynamic dimension besides the batch` }
}

/** The first timed call at a size (after its warm-up), which plans the probe: its time, or that a call threw. */
export type FirstCall =
  | { readonly size: number; readonly ms: number }
  | { readonly size: number; readonly failed: true }

/** The timed calls of one size, in ms (those that succeeded). */
export interface SizeTimings {
  readonly size: number
  readonly callMs: ReadonlyArray<number>
}

const isTime = (ms: number) => Number.isFinite(ms) && ms > 0

/**
 * The size the first pass tries after `done` (1 to start, then doubling), or undefined to stop growing:
 * at `maxSize`, after a call that threw, or when the sizes tried and the next one could not all be called
 * `1 + repetitions` times within the budget. Each size is expected to cost its call's time, but never more
 * than twice the expectation of the size below: one call a busy machine delayed does not end the growth
 * (the timed passes stop at the budget whatever the plan expected).
 */
export const nextProbeSize = (done: ReadonlyArray<FirstCall>, options: BatchProbeOptions): number | undefined => {
  const last = done[done.length - 1]
  if (last === undefined) return options.maxSize >= 1 ? 1 : undefined
  if ("failed" in last || !isTime(last.ms)) return undefined
  const next = last.size * 2
  if (next > options.maxSize) return undefined
  let planned = 0
  let expected = Number.POSITIVE_INFINITY
  for (const call of done) {
    if (!("ms" in call) || !isTime(call.ms)) return undefined
    expected = Math.min(call.ms, 2 * expected)
    planned += expected
  }
  planned += 2 * expected
  return planned * (1 + options.repetitions) <= options.budgetMs ? next : undefined
}

/** The order of timed pass `pass`: ascending, then descending, so a drifting machine weighs on every size alike. */
export const passOrder = (sizes: ReadonlyArray<number>, pass: number): ReadonlyArray<number> =>
  pass % 2 === 0 ? sizes : [...sizes].reverse()

/**
 * Samples per second of a size: its size over its fastest call. The fastest, not the median: on a shared
 * machine another process only ever adds time to a call, so the fastest is the least disturbed.
 */
export const samplesPerSecond = (timings: SizeTimings): number => {
  let fastest = Number.POSITIVE_INFINITY
  for (const ms of timings.callMs) if (isTime(ms) && ms < fastest) fastest = ms
  return fastest === Number.POSITIVE_INFINITY ? 0 : (timings.size * 1000) / fastest
}

export type BatchSizeChoice =
  | { readonly measured: true; readonly size: number; readonly samplesPerSecond: number }
  | { readonly measured: false; readonly size: number; readonly reason: string }

/**
 * The batch limit the timings call for: the smallest size within `tolerance` of the best samples per
 * second (as fast, with less waiting for each caller); `fallback` when fewer than two sizes were timed.
 */
export const chooseBatchSize = (table: ReadonlyArray<SizeTimings>, options: BatchProbeOptions): BatchSizeChoice => {
  const rated = table
    .map((t) => ({ size: t.size, rate: samplesPerSecond(t) }))
    .filter((r) => r.rate > 0)
    .sort((a, b) => a.size - b.size)
  if (rated.length < 2)
    return {
      measured: false,
      size: options.fallback,
      reason: rated.length === 0 ? "no batch size could be timed" : `only batch size ${rated[0]!.size} could be timed`
    }
  const best = Math.max(...rated.map((r) => r.rate))
  const chosen = rated.find((r) => r.rate >= best * (1 - options.tolerance))!
  return { measured: true, size: chosen.size, samplesPerSecond: chosen.rate }
}

/** The timings as a log reads them: `1: 3.1k/s, 2: 5.9k/s, …` (pure). */
export const describeTimings = (table: ReadonlyArray<SizeTimings>): string =>
  table
    .map((t) => {
      const rate = samplesPerSecond(t)
      return `${t.size}: ${rate === 0 ? "failed" : rate >= 1000 ? `${(rate / 1000).toFixed(1)}k/s` : `${rate.toFixed(0)}/s`}`
    })
    .join(", ")
