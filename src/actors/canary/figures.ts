// What a replica counts per version while it runs a canary: requests, errors and latency buckets of each
// version, and the shadow comparisons; kept since it took the canary up, and over a sliding window for the guard.
import {
  addCounts,
  emptyShadowFigures,
  emptyVersionFigures,
  latencyBucket,
  type ShadowFigures,
  type VersionFigures
} from "../../protocol/canary.js"

type Mutable<T> = { -readonly [K in keyof T]: T[K] extends ReadonlyArray<infer E> ? Array<E> : T[K] }

export type VersionCounts = Mutable<VersionFigures>
export type ShadowCounts = Mutable<ShadowFigures>

export interface Figures {
  readonly stable: VersionCounts
  readonly candidate: VersionCounts
  readonly shadow: ShadowCounts
}

/** One shadow comparison: did every row's argmax agree, and the largest absolute difference of the outputs. */
export interface Comparison {
  readonly agree: boolean
  readonly maxAbsDiff: number
}

export const emptyFigures = (): Figures => ({
  stable: emptyVersionFigures(),
  candidate: emptyVersionFigures(),
  shadow: emptyShadowFigures()
})

const clearVersion = (v: VersionCounts) => {
  v.requests = 0
  v.errors = 0
  v.latency.fill(0)
}

const clear = (f: Figures) => {
  clearVersion(f.stable)
  clearVersion(f.candidate)
  Object.assign(f.shadow, emptyShadowFigures())
}

/** Counts a request one version answered (or failed) after `ms` ms. */
export const countRequest = (f: Figures, candidate: boolean, ms: number, failed: boolean): void => {
  const v = candidate ? f.candidate : f.stable
  v.requests++
  if (failed) v.errors++
  v.latency[latencyBucket(ms)]!++
}

/** Counts a shadow run: its comparison, or "failed" when the candidate threw; "dropped" when it never ran. */
export const countShadow = (f: Figures, outcome: Comparison | "failed" | "dropped"): void => {
  const s = f.shadow
  if (outcome === "dropped") s.dropped++
  else if (outcome === "failed") s.errors++
  else {
    s.samples++
    if (outcome.agree) s.agreements++
    // a comparison that found shapes or values it cannot subtract counts as the largest difference there is
    const diff = Number.isFinite(outcome.maxAbsDiff) ? outcome.maxAbsDiff : Number.MAX_VALUE
    if (diff > s.maxAbsDiff) s.maxAbsDiff = diff
    s.sumAbsDiff += diff
  }
}

const addVersion = (into: VersionCounts, from: VersionFigures) => {
  into.requests += from.requests
  into.errors += from.errors
  addCounts(into.latency, from.latency)
}

/** Adds `from` into `into`; latency buckets only when `latency` (the guard reads them only for a p99 ratio). */
export const addFigures = (into: Figures, from: Figures, latency = true): void => {
  if (latency) {
    addVersion(into.stable, from.stable)
    addVersion(into.candidate, from.candidate)
  } else {
    into.stable.requests += from.stable.requests
    into.stable.errors += from.stable.errors
    into.candidate.requests += from.candidate.requests
    into.candidate.errors += from.candidate.errors
  }
  const s = into.shadow
  s.samples += from.shadow.samples
  s.agreements += from.shadow.agreements
  s.errors += from.shadow.errors
  s.dropped += from.shadow.dropped
  s.maxAbsDiff = Math.max(s.maxAbsDiff, from.shadow.maxAbsDiff)
  s.sumAbsDiff += from.shadow.sumAbsDiff
}

/** Slots of a window: it covers between 9/10 of its length and all of it (the current slot is partial). */
export const WINDOW_SLOTS = 10

/**
 * A sliding window of figures: WINDOW_SLOTS slots of `windowMs / WINDOW_SLOTS` each; slot k holds what
 * was counted during period k (time / slot length), reused once that period is out of the window.
 */
export interface FiguresWindow {
  readonly windowMs: number
  readonly slotMs: number
  readonly slots: ReadonlyArray<Figures>
  /** The period each slot holds (-1: none yet). */
  readonly periods: Array<number>
  /** The sum the guard reads, reused at every check. */
  readonly totals: Figures
}

export const makeWindow = (windowMs: number): FiguresWindow => ({
  windowMs,
  slotMs: windowMs / WINDOW_SLOTS,
  slots: Array.from({ length: WINDOW_SLOTS }, emptyFigures),
  periods: new Array<number>(WINDOW_SLOTS).fill(-1),
  totals: emptyFigures()
})

/** The slot counting what happens at `now` (ms, any monotonic origin), emptied first if it held an old period. */
export const slotAt = (w: FiguresWindow, now: number): Figures => {
  const period = Math.floor(now / w.slotMs)
  const i = ((period % WINDOW_SLOTS) + WINDOW_SLOTS) % WINDOW_SLOTS
  const slot = w.slots[i]!
  if (w.periods[i] !== period) {
    clear(slot)
    w.periods[i] = period
  }
  return slot
}

/** What the window holds at `now`: the slots of the last WINDOW_SLOTS periods, summed into `w.totals`. */
export const windowTotals = (w: FiguresWindow, now: number, latency = true): Figures => {
  const period = Math.floor(now / w.slotMs)
  clear(w.totals)
  for (let i = 0; i < WINDOW_SLOTS; i++) {
    const p = w.periods[i]!
    if (p >= 0 && p > period - WINDOW_SLOTS && p <= period) addFigures(w.totals, w.slots[i]!, latency)
  }
  return w.totals
}
