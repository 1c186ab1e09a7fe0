// The canary's wire contracts between replicas and operators: a replica's acknowledgement that it took
// up or dropped a canary, its figures per version (counts, latency buckets, shadow comparisons), percentiles.
import * as Schema from "effect/Schema"
import { UpdateAck } from "./messages.js"

/**
 * Upper bounds (ms) of the per-version latency buckets: four per octave from 1/16 ms to 32 s, so a
 * percentile read from them is within 19 % (before interpolation); one open bucket (+Inf) follows.
 */
export const CANARY_LATENCY_BOUNDS: ReadonlyArray<number> = Array.from({ length: 77 }, (_, i) => 2 ** (i / 4 - 4))

const Count = Schema.Int.check(Schema.isGreaterThanOrEqualTo(0))

/** What one version answered on one replica: requests, errors among them, latency bucket counts (not cumulative). */
export const VersionFigures = Schema.Struct({
  requests: Count,
  errors: Count,
  latency: Schema.Array(Count).check(Schema.isMaxLength(CANARY_LATENCY_BOUNDS.length + 1))
})
export type VersionFigures = typeof VersionFigures.Type

/** The candidate re-run on requests the stable version answered, compared with the stable outputs. */
export const ShadowFigures = Schema.Struct({
  /** Requests compared. */
  samples: Count,
  /** Compared requests whose every row has the same argmax on both versions. */
  agreements: Count,
  /** Shadow runs that failed on the candidate. */
  errors: Count,
  /** Requests not shadowed because the shadow queue was full (the replica was busy). */
  dropped: Count,
  /** The largest absolute difference between the outputs of the two versions, and the sum of each sample's largest. */
  maxAbsDiff: Schema.Number,
  sumAbsDiff: Schema.Number
})
export type ShadowFigures = typeof ShadowFigures.Type

/** A replica's answer on the canary figures subject (JSON): its figures since it took up canary `canary`. */
export const CanaryFiguresReply = Schema.Struct({
  actor: Schema.String,
  model: Schema.String,
  /** The canary's id; replicas holding figures of another canary are left out by the reader. */
  canary: Schema.String,
  /** Whether the replica still splits traffic for it (false once it ended there). */
  live: Schema.Boolean,
  stable: VersionFigures,
  candidate: VersionFigures,
  shadow: ShadowFigures
})
export type CanaryFiguresReply = typeof CanaryFiguresReply.Type

/** What a replica did about a canary: took it up (`running`: candidate loaded, or refused with the cause) or dropped it. */
export const CanaryAck = Schema.Struct({
  ...UpdateAck.fields,
  canary: Schema.String,
  phase: Schema.Literals(["running", "aborted", "promoted"])
})
export type CanaryAck = typeof CanaryAck.Type

export const emptyVersionFigures = (): { requests: number; errors: number; latency: Array<number> } => ({
  requests: 0,
  errors: 0,
  latency: new Array<number>(CANARY_LATENCY_BOUNDS.length + 1).fill(0)
})

export const emptyShadowFigures = (): {
  samples: number
  agreements: number
  errors: number
  dropped: number
  maxAbsDiff: number
  sumAbsDiff: number
} => ({ samples: 0, agreements: 0, errors: 0, dropped: 0, maxAbsDiff: 0, sumAbsDiff: 0 })

/** The index of the latency bucket holding `ms` (a bucket holds values up to and including its bound). */
export const latencyBucket = (ms: number): number => {
  // bounds are 2^(i/4 - 4): the index is found by a logarithm, then corrected for rounding at the edges
  if (!(ms > CANARY_LATENCY_BOUNDS[0]!)) return 0
  const last = CANARY_LATENCY_BOUNDS.length
  let i = Math.min(last, Math.max(0, Math.ceil((Math.log2(ms) + 4) * 4)))
  while (i > 0 && ms <= CANARY_LATENCY_BOUNDS[i - 1]!) i--
  while (i < last && ms > CANARY_LATENCY_BOUNDS[i]!) i++
  return i
}

/**
 * The `q` quantile (0..1) of the values counted in `counts`, in ms: linear within the bucket that
 * holds it (from the bound below it); the open bucket reads as its lower bound. NaN for no values.
 */
export const quantileOf = (counts: ReadonlyArray<number>, q: number): number => {
  let total = 0
  for (const c of counts) total += c
  if (total === 0) return Number.NaN
  const rank = Math.max(1, Math.ceil(q * total))
  let seen = 0
  for (let i = 0; i < counts.length; i++) {
    const c = counts[i]!
    if (c === 0) continue
    if (seen + c >= rank) {
      const lower = i === 0 ? 0 : CANARY_LATENCY_BOUNDS[i - 1]!
      const upper = CANARY_LATENCY_BOUNDS[i]
      if (upper === undefined) return lower
      return lower + ((upper - lower) * (rank - seen)) / c
    }
    seen += c
  }
  return CANARY_LATENCY_BOUNDS[CANARY_LATENCY_BOUNDS.length - 1]!
}

/** Adds `b` into `a` (same length), bucket by bucket. */
export const addCounts = (a: Array<number>, b: ReadonlyArray<number>): void => {
  for (let i = 0; i < a.length && i < b.length; i++) a[i]! += b[i]!
}
