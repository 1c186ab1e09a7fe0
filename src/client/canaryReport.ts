// A canary's figures across its replicas (pure): each version's requests, errors, p50 and p99 from the
// summed latency buckets, and the shadow comparisons; what `canary status` prints.
import {
  addCounts,
  type CanaryFiguresReply,
  emptyShadowFigures,
  emptyVersionFigures,
  quantileOf,
  type VersionFigures
} from "../protocol/canary.js"
import type { CanaryState } from "../registry/canaryState.js"

export interface VersionReport {
  readonly version: number
  readonly requests: number
  readonly errors: number
  /** errors / requests (0 without requests). */
  readonly errorRate: number
  /** From the latency buckets (within their resolution); null without requests. */
  readonly p50Ms: number | null
  readonly p99Ms: number | null
}

export interface ShadowReport {
  readonly samples: number
  readonly agreements: number
  /** agreements / samples; null without samples. */
  readonly agreement: number | null
  readonly errors: number
  readonly dropped: number
  readonly maxAbsDiff: number
  /** The mean over samples of each one's largest difference; null without samples. */
  readonly meanAbsDiff: number | null
}

export interface CanaryReport {
  readonly model: string
  readonly canary: CanaryState
  /** Replicas whose figures of this canary are summed (a replica restarted since counts from its restart). */
  readonly replicas: ReadonlyArray<string>
  readonly stable: VersionReport
  readonly candidate: VersionReport
  readonly shadow: ShadowReport
}

const rounded = (x: number) => Math.round(x * 1000) / 1000
const quantile = (latency: ReadonlyArray<number>, q: number) => {
  const v = quantileOf(latency, q)
  return Number.isNaN(v) ? null : rounded(v)
}

const versionReport = (version: number, f: VersionFigures): VersionReport => ({
  version,
  requests: f.requests,
  errors: f.errors,
  errorRate: f.requests === 0 ? 0 : f.errors / f.requests,
  p50Ms: quantile(f.latency, 0.5),
  p99Ms: quantile(f.latency, 0.99)
})

/** Sums the replies about `canary` (replies about another canary, or none, are left out). */
export const canaryReport = (canary: CanaryState, replies: ReadonlyArray<CanaryFiguresReply>): CanaryReport => {
  const stable = emptyVersionFigures()
  const candidate = emptyVersionFigures()
  const shadow = emptyShadowFigures()
  const replicas: Array<string> = []
  for (const r of replies) {
    if (r.canary !== canary.id || r.model !== canary.model) continue
    replicas.push(r.actor)
    for (const [into, from] of [
      [stable, r.stable],
      [candidate, r.candidate]
    ] as const) {
      into.requests += from.requests
      into.errors += from.errors
      addCounts(into.latency, from.latency)
    }
    shadow.samples += r.shadow.samples
    shadow.agreements += r.shadow.agreements
    shadow.errors += r.shadow.errors
    shadow.dropped += r.shadow.dropped
    shadow.maxAbsDiff = Math.max(shadow.maxAbsDiff, r.shadow.maxAbsDiff)
    shadow.sumAbsDiff += r.shadow.sumAbsDiff
  }
  return {
    model: canary.model,
    canary,
    replicas: replicas.sort(),
    stable: versionReport(canary.stable, stable),
    candidate: versionReport(canary.candidate.version, candidate),
    shadow: {
      samples: shadow.samples,
      agreements: shadow.agreements,
      agreement: shadow.samples === 0 ? null : shadow.agreements / shadow.samples,
      errors: shadow.errors,
      dropped: shadow.dropped,
      maxAbsDiff: shadow.maxAbsDiff,
      meanAbsDiff: shadow.samples === 0 ? null : shadow.sumAbsDiff / shadow.samples
    }
  }
}
