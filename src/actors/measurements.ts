// What an actor measures for /metrics when its settings ask for it: outcome counts and histogram
// bucket counts, kept as plain integer arrays on the hot path and copied out with each heartbeat.

import type { ServiceError } from "../protocol/errors.js"
import {
  type ActorMetrics,
  BATCH_SIZE_BUCKETS,
  type HistogramCounts,
  LATENCY_BUCKETS,
  type Outcome
} from "../protocol/ipc.js"

export interface Histogram {
  readonly bounds: ReadonlyArray<number>
  /** Per bucket, the last one open (+Inf). */
  readonly counts: Array<number>
  sum: number
}

export interface Measurements {
  readonly outcomes: Record<Outcome, number>
  readonly queueWait: Histogram
  readonly compute: Histogram
  readonly total: Histogram
  readonly batchSize: Histogram
  /** The part of `outcomes` and `total` answered by a canary's candidate (the rest: the stable version). */
  readonly candidate: { readonly outcomes: Record<Outcome, number>; readonly total: Histogram }
}

const histogram = (bounds: ReadonlyArray<number>): Histogram => ({
  bounds,
  counts: new Array<number>(bounds.length + 1).fill(0),
  sum: 0
})

const noOutcomes = (): Record<Outcome, number> => ({
  ok: 0,
  bad_input: 0,
  payload_too_large: 0,
  inference_failed: 0,
  overloaded: 0,
  deadline_exceeded: 0
})

export const makeMeasurements = (): Measurements => ({
  outcomes: noOutcomes(),
  queueWait: histogram(LATENCY_BUCKETS),
  compute: histogram(LATENCY_BUCKETS),
  total: histogram(LATENCY_BUCKETS),
  batchSize: histogram(BATCH_SIZE_BUCKETS),
  candidate: { outcomes: noOutcomes(), total: histogram(LATENCY_BUCKETS) }
})

/** The outcome label of each service error. */
export const outcomeOf: Readonly<Record<ServiceError["_tag"], Outcome>> = {
  BadInput: "bad_input",
  PayloadTooLarge: "payload_too_large",
  InferenceFailed: "inference_failed",
  Overloaded: "overloaded",
  DeadlineExceeded: "deadline_exceeded"
}

/** Counts `weight` observations of `value` (a bucket holds values up to and including its bound). */
export const observe = (h: Histogram, value: number, weight = 1): void => {
  const { bounds } = h
  let i = 0
  while (i < bounds.length && value > bounds[i]!) i++
  h.counts[i]! += weight
  h.sum += value * weight
}

const copy = (h: Histogram): HistogramCounts => ({ counts: h.counts.slice(), sum: h.sum })

/** A snapshot to send over IPC (the candidate's part once a candidate has answered anything). */
export const snapshot = (m: Measurements): ActorMetrics => ({
  outcomes: { ...m.outcomes },
  queueWait: copy(m.queueWait),
  compute: copy(m.compute),
  total: copy(m.total),
  batchSize: copy(m.batchSize),
  ...(Object.values(m.candidate.outcomes).some((n) => n > 0)
    ? { candidate: { outcomes: { ...m.candidate.outcomes }, total: copy(m.candidate.total) } }
    : {})
})
