// What each actor slot has done over all its processes: the cumulative counts every incarnation
// reported (outcomes, histogram buckets, model loads), summed so a restart never sets a counter back.
import {
  type ActorCounters,
  type ActorMetrics,
  BATCH_SIZE_BUCKETS,
  type HistogramCounts,
  LATENCY_BUCKETS,
  OUTCOMES,
  type Outcome,
  type VersionShare
} from "../../protocol/ipc.js"

export interface Totals {
  readonly outcomes: Readonly<Record<Outcome, number>>
  readonly queueWait: HistogramCounts
  readonly compute: HistogramCounts
  readonly total: HistogramCounts
  readonly batchSize: HistogramCounts
  /** Models built from artifacts, over every process of the slot. */
  readonly loads: number
  /** The part of `outcomes` and `total` canary candidates answered (the rest: stable versions). */
  readonly candidate: VersionShare
}

const emptyHistogram = (bounds: ReadonlyArray<number>): HistogramCounts => ({
  counts: new Array<number>(bounds.length + 1).fill(0),
  sum: 0
})

const noOutcomes = () => Object.fromEntries(OUTCOMES.map((o) => [o, 0])) as Record<Outcome, number>

export const emptyTotals = (): Totals => ({
  outcomes: noOutcomes(),
  queueWait: emptyHistogram(LATENCY_BUCKETS),
  compute: emptyHistogram(LATENCY_BUCKETS),
  total: emptyHistogram(LATENCY_BUCKETS),
  batchSize: emptyHistogram(BATCH_SIZE_BUCKETS),
  loads: 0,
  candidate: { outcomes: noOutcomes(), total: emptyHistogram(LATENCY_BUCKETS) }
})

/** Bucket-wise sum; a report with another number of buckets (another build of the actor) is left out. */
const addHistogram = (a: HistogramCounts, b: HistogramCounts | undefined): HistogramCounts =>
  b === undefined || b.counts.length !== a.counts.length
    ? a
    : { counts: a.counts.map((c, i) => c + (b.counts[i] ?? 0)), sum: a.sum + b.sum }

const addOutcomes = (
  a: Readonly<Record<Outcome, number>>,
  b: Readonly<Record<Outcome, number>> | undefined
): Readonly<Record<Outcome, number>> =>
  b === undefined ? a : (Object.fromEntries(OUTCOMES.map((o) => [o, a[o] + (b[o] ?? 0)])) as Record<Outcome, number>)

const addMetrics = (totals: Totals, metrics: ActorMetrics | undefined, loads: number): Totals => ({
  outcomes: addOutcomes(totals.outcomes, metrics?.outcomes),
  queueWait: addHistogram(totals.queueWait, metrics?.queueWait),
  compute: addHistogram(totals.compute, metrics?.compute),
  total: addHistogram(totals.total, metrics?.total),
  batchSize: addHistogram(totals.batchSize, metrics?.batchSize),
  loads: totals.loads + loads,
  candidate:
    metrics?.candidate === undefined
      ? totals.candidate
      : {
          outcomes: addOutcomes(totals.candidate.outcomes, metrics.candidate.outcomes),
          total: addHistogram(totals.candidate.total, metrics.candidate.total)
        }
})

interface Slot {
  /** What the slot's finished processes reported last, summed. */
  base: Totals
  /** The latest counters of each running process, by incarnation. */
  readonly live: Map<number, ActorCounters>
}

export interface ActorTotals {
  /** Incarnation `n` of `actor` reported these cumulative counters. */
  readonly report: (actor: string, n: number, counters: ActorCounters) => void
  /** Incarnation `n` of `actor` exited: what it reported last stays counted. */
  readonly exited: (actor: string, n: number) => void
  /** Everything `actor` did, over all its processes (undefined when it never reported). */
  readonly totals: (actor: string) => Totals | undefined
  /** Forgets the actors not in `keep` (slots scaled away). */
  readonly retain: (keep: ReadonlySet<string>) => void
}

export const makeActorTotals = (): ActorTotals => {
  const slots = new Map<string, Slot>()
  const slotOf = (actor: string): Slot => {
    let slot = slots.get(actor)
    if (slot === undefined) {
      slot = { base: emptyTotals(), live: new Map() }
      slots.set(actor, slot)
    }
    return slot
  }
  return {
    report: (actor, n, counters) => void slotOf(actor).live.set(n, counters),
    exited: (actor, n) => {
      const slot = slots.get(actor)
      const last = slot?.live.get(n)
      if (slot === undefined || last === undefined) return
      slot.live.delete(n)
      slot.base = addMetrics(slot.base, last.metrics, last.loads)
    },
    totals: (actor) => {
      const slot = slots.get(actor)
      if (slot === undefined) return undefined
      let sum = slot.base
      for (const counters of slot.live.values()) sum = addMetrics(sum, counters.metrics, counters.loads)
      return sum
    },
    retain: (keep) => {
      for (const actor of slots.keys()) if (!keep.has(actor)) slots.delete(actor)
    }
  }
}
