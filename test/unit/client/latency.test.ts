// The client's latency window and what follows from it: quantiles read from the histogram, the hedge
// delay and budget, and each attempt's timeout under the caller's ceiling.
import * as fc from "fast-check"
import { describe, expect, it } from "vitest"
import {
  attemptTimeout,
  boundOf,
  bucketOf,
  defaultAttemptTimeout,
  defaultHedgePolicy,
  hedgeBudget,
  hedgeDelay,
  latencyWindow,
  MIN_SAMPLES,
  timeoutStep
} from "../../../src/client/latency.js"

describe("latency window", () => {
  it("says nothing before MIN_SAMPLES replies", () => {
    const w = latencyWindow()
    for (let i = 0; i < MIN_SAMPLES - 1; i++) w.record(5)
    expect(w.p99()).toBeUndefined()
    w.record(5)
    expect(w.p99()).toBeGreaterThanOrEqual(5)
  })

  it("reads a quantile as its bucket's bound: never below the true value, at most 12 % above", () => {
    fc.assert(
      fc.property(
        fc.array(fc.double({ min: 0.1, max: 10_000, noNaN: true }), { minLength: 64, maxLength: 500 }),
        (xs) => {
          const w = latencyWindow()
          for (const x of xs) w.record(x)
          // the quantiles are refreshed every 32 replies: record up to the next refresh
          const padded = [...xs]
          while (padded.length % 32 !== 0) {
            w.record(xs[0]!)
            padded.push(xs[0]!)
          }
          const sorted = [...padded].sort((a, b) => a - b)
          const true99 = sorted[Math.ceil(0.99 * sorted.length) - 1]!
          const p99 = w.p99()!
          expect(p99).toBeGreaterThanOrEqual(true99)
          expect(p99).toBeLessThanOrEqual(true99 * 1.12 + 1e-9)
        }
      )
    )
  })

  it("forgets replies older than two half-windows (a slow spell passes)", () => {
    const w = latencyWindow()
    for (let i = 0; i < 1_024; i++) w.record(500)
    expect(w.p99()).toBeGreaterThanOrEqual(500)
    for (let i = 0; i < 1_024; i++) w.record(2)
    expect(w.p99()).toBeLessThan(3)
  })

  it("puts every latency in a bucket whose bound holds it", () => {
    for (const ms of [0, 0.01, 0.05, 0.06, 1, 7.3, 250, 60_000, 1e9]) {
      const i = bucketOf(ms)
      if (ms <= 300_000) expect(boundOf(i)).toBeGreaterThanOrEqual(ms)
      if (i > 0 && ms <= 300_000) expect(boundOf(i - 1)).toBeLessThan(ms)
    }
  })
})

describe("attempt timeout", () => {
  it("waits the whole ceiling before enough replies are seen, and on the last attempt", () => {
    expect(attemptTimeout(defaultAttemptTimeout, undefined, 1, 5, 5_000)).toBe(5_000)
    expect(attemptTimeout(defaultAttemptTimeout, 10, 5, 5, 5_000)).toBe(5_000)
  })

  it("is 5 × p99 with a 200 ms floor, doubling with each retry, never above the ceiling", () => {
    expect(attemptTimeout(defaultAttemptTimeout, 2, 1, 5, 5_000)).toBe(200)
    expect(attemptTimeout(defaultAttemptTimeout, 100, 1, 5, 5_000)).toBe(500)
    expect(attemptTimeout(defaultAttemptTimeout, 100, 2, 5, 5_000)).toBe(1_000)
    expect(attemptTimeout(defaultAttemptTimeout, 100, 4, 5, 5_000)).toBe(4_000)
    expect(attemptTimeout(defaultAttemptTimeout, 2_000, 1, 5, 5_000)).toBe(5_000)
    expect(attemptTimeout(defaultAttemptTimeout, 100, 1, 5, 300)).toBe(300)
  })

  it.each([
    ["a first attempt", 1, 5, 1, 1],
    ["a retry on the same connection", 3, 5, 3, 3],
    ["the first attempt on a new connection", 4, 5, 1, 1],
    ["the second attempt on a new connection", 4, 5, 2, 2],
    ["the last attempt, on a new connection too", 5, 5, 1, 5]
  ] as const)(
    "is read at the attempts made on this connection, the last one excepted: %s",
    (_case, n, attempts, onThis, step) => {
      expect(timeoutStep(n, attempts, onThis)).toBe(step)
    }
  )
})

describe("hedging", () => {
  it("waits 2 × p99 with a 20 ms floor, and not at all before enough replies are seen", () => {
    expect(hedgeDelay(defaultHedgePolicy, undefined)).toBeUndefined()
    expect(hedgeDelay(defaultHedgePolicy, 3)).toBe(20)
    expect(hedgeDelay(defaultHedgePolicy, 40)).toBe(80)
  })

  it("spends at most budget × requests + burst hedges over any run of requests", () => {
    fc.assert(
      fc.property(fc.array(fc.boolean(), { minLength: 1, maxLength: 3_000 }), (wants) => {
        const budget = hedgeBudget(defaultHedgePolicy)
        let hedges = 0
        for (const want of wants) {
          budget.earn()
          if (want && budget.take()) hedges++
        }
        expect(hedges).toBeLessThanOrEqual(defaultHedgePolicy.budget * wants.length + defaultHedgePolicy.burst)
      })
    )
  })

  it("gives a request that needs one a hedge once 20 requests have earned it", () => {
    const budget = hedgeBudget(defaultHedgePolicy)
    for (let i = 0; i < 19; i++) budget.earn()
    expect(budget.take()).toBe(false)
    budget.earn()
    expect(budget.take()).toBe(true)
    expect(budget.take()).toBe(false)
  })
})
