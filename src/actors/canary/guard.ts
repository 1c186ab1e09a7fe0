// The canary guard's decision, a pure function of its thresholds and the figures of one replica's window:
// hold, or abort naming the threshold crossed and the figures it was crossed with.
import { quantileOf } from "../../protocol/canary.js"
import type { CanaryGuard } from "../../registry/canaryState.js"
import type { Figures } from "./figures.js"

/** The guard's thresholds by the names operators write them with (`--guard min-agreement=0.9,…`). */
export const GuardThreshold = {
  maxErrorRate: "max-error-rate",
  minAgreement: "min-agreement",
  maxP99Ratio: "max-p99-ratio"
} as const
export type GuardThreshold = (typeof GuardThreshold)[keyof typeof GuardThreshold]

export type GuardVerdict =
  | { readonly _tag: "Hold" }
  | {
      readonly _tag: "Abort"
      readonly threshold: GuardThreshold
      /** One line: the threshold, the value against its limit, and how many samples in how long a window. */
      readonly reason: string
      /** The figures behind the decision (all finite, for the event and the registry entry). */
      readonly figures: Readonly<Record<string, number>>
    }

const HOLD: GuardVerdict = { _tag: "Hold" }

const seconds = (ms: number) => `${Math.round(ms / 100) / 10} s`
const fixed = (x: number) => (Math.round(x * 1000) / 1000).toString()

/**
 * Checks, in this order, the candidate's error rate (its answers and shadow runs), its shadow agreement
 * and its p99 latency against the stable version's; a figure counts only with `minSamples` observations
 * behind it (both versions' for the ratio). The first one crossed aborts.
 */
export const guardVerdict = (guard: CanaryGuard, f: Figures): GuardVerdict => {
  const { minSamples, windowMs } = guard
  const over = `in the last ${seconds(windowMs)}`
  if (guard.maxErrorRate !== undefined) {
    const runs = f.candidate.requests + f.shadow.samples + f.shadow.errors
    const errors = f.candidate.errors + f.shadow.errors
    const rate = runs === 0 ? 0 : errors / runs
    if (runs >= minSamples && rate > guard.maxErrorRate) {
      return {
        _tag: "Abort",
        threshold: GuardThreshold.maxErrorRate,
        reason: `${GuardThreshold.maxErrorRate}: the candidate failed ${errors} of ${runs} runs (${fixed(rate)} > ${guard.maxErrorRate}) ${over}`,
        figures: { errors, runs, errorRate: rate, limit: guard.maxErrorRate, windowMs }
      }
    }
  }
  if (guard.minAgreement !== undefined) {
    const { samples, agreements, maxAbsDiff } = f.shadow
    const agreement = samples === 0 ? 1 : agreements / samples
    if (samples >= minSamples && agreement < guard.minAgreement) {
      return {
        _tag: "Abort",
        threshold: GuardThreshold.minAgreement,
        reason: `${GuardThreshold.minAgreement}: the candidate agreed with the stable version on ${agreements} of ${samples} shadowed requests (${fixed(agreement)} < ${guard.minAgreement}; max |difference| ${fixed(maxAbsDiff)}) ${over}`,
        figures: { samples, agreements, agreement, maxAbsDiff, limit: guard.minAgreement, windowMs }
      }
    }
  }
  if (guard.maxP99Ratio !== undefined && f.candidate.requests >= minSamples && f.stable.requests >= minSamples) {
    const candidate = quantileOf(f.candidate.latency, 0.99)
    const stable = quantileOf(f.stable.latency, 0.99)
    const ratio = candidate / stable
    if (stable > 0 && ratio > guard.maxP99Ratio) {
      return {
        _tag: "Abort",
        threshold: GuardThreshold.maxP99Ratio,
        reason: `${GuardThreshold.maxP99Ratio}: the candidate's p99 is ${fixed(candidate)} ms against the stable version's ${fixed(stable)} ms (${fixed(ratio)}x > ${guard.maxP99Ratio}x over ${f.candidate.requests} and ${f.stable.requests} requests) ${over}`,
        figures: {
          candidateP99Ms: candidate,
          stableP99Ms: stable,
          ratio,
          candidateRequests: f.candidate.requests,
          stableRequests: f.stable.requests,
          limit: guard.maxP99Ratio,
          windowMs
        }
      }
    }
  }
  return HOLD
}
