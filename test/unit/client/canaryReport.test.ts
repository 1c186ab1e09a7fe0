// A canary's figures over its replicas (pure): counts summed per version, percentiles from the summed latency
// buckets (within their resolution), shadow agreement; replicas reporting another canary are left out.
import { describe, expect, it } from "vitest"
import { canaryReport } from "../../../src/client/canaryReport.js"
import {
  CANARY_LATENCY_BOUNDS,
  type CanaryFiguresReply,
  emptyShadowFigures,
  emptyVersionFigures,
  latencyBucket,
  quantileOf
} from "../../../src/protocol/canary.js"
import { canaryState } from "../actors/canary/state.js"

const version = (latencies: ReadonlyArray<[ms: number, n: number]>, errors = 0) => {
  const v = emptyVersionFigures()
  for (const [ms, n] of latencies) {
    v.requests += n
    v.latency[latencyBucket(ms)]! += n
  }
  v.errors = errors
  return v
}

const reply = (actor: string, fields: Partial<CanaryFiguresReply> = {}): CanaryFiguresReply => ({
  actor,
  model: "fake",
  canary: "c1",
  live: true,
  stable: emptyVersionFigures(),
  candidate: emptyVersionFigures(),
  shadow: emptyShadowFigures(),
  ...fields
})

describe("latency buckets", () => {
  it("put a value in the first bucket whose bound holds it, the open one past the last", () => {
    for (const ms of [0.01, 0.0625, 0.07, 1, 1.5, 37, 32_768, 40_000]) {
      const i = latencyBucket(ms)
      if (i < CANARY_LATENCY_BOUNDS.length) expect(ms).toBeLessThanOrEqual(CANARY_LATENCY_BOUNDS[i]!)
      else expect(ms).toBeGreaterThan(CANARY_LATENCY_BOUNDS.at(-1)!)
      if (i > 0) expect(ms).toBeGreaterThan(CANARY_LATENCY_BOUNDS[i - 1]!)
    }
  })

  it("read quantiles back within a bucket's width (19 %), NaN with nothing counted", () => {
    const v = version([
      [1, 98],
      [20, 2]
    ])
    expect(quantileOf(v.latency, 0.5)).toBeGreaterThan(1 / 1.19)
    expect(quantileOf(v.latency, 0.5)).toBeLessThanOrEqual(1)
    expect(quantileOf(v.latency, 0.99)).toBeGreaterThan(20 / 1.19)
    expect(quantileOf(v.latency, 0.99)).toBeLessThanOrEqual(20 * 1.19)
    expect(quantileOf(emptyVersionFigures().latency, 0.5)).toBeNaN()
  })
})

describe("canaryReport", () => {
  it("sums the replicas of this canary per version and leaves out other canaries' figures", () => {
    const state = canaryState()
    const report = canaryReport(state, [
      reply("a", { stable: version([[1, 90]]), candidate: version([[2, 10]], 1) }),
      reply("b", {
        stable: version([[1, 80]]),
        candidate: version([[2, 20]]),
        shadow: { ...emptyShadowFigures(), samples: 50, agreements: 45, maxAbsDiff: 0.5, sumAbsDiff: 5 }
      }),
      reply("old", { canary: "c0", stable: version([[1, 1000]]) })
    ])
    expect(report.replicas).toEqual(["a", "b"])
    expect(report.stable).toMatchObject({ version: 1, requests: 170, errors: 0 })
    expect(report.candidate).toMatchObject({ version: 2, requests: 30, errors: 1, errorRate: 1 / 30 })
    expect(report.candidate.p50Ms).toBeGreaterThan(1.6)
    expect(report.candidate.p50Ms).toBeLessThanOrEqual(2)
    expect(report.shadow).toEqual({
      samples: 50,
      agreements: 45,
      agreement: 0.9,
      errors: 0,
      dropped: 0,
      maxAbsDiff: 0.5,
      meanAbsDiff: 0.1
    })
  })

  it("has no percentiles or agreement without observations", () => {
    const report = canaryReport(canaryState(), [reply("a")])
    expect(report.stable).toMatchObject({ requests: 0, p50Ms: null, p99Ms: null, errorRate: 0 })
    expect(report.shadow.agreement).toBeNull()
  })
})
