// Restart backoff as pure functions: exponential, capped, jittered within bounds, reset by a long life.
import fc from "fast-check"
import { describe, expect, it } from "vitest"
import { backoffDelay, DEFAULT_BACKOFF, nextAttempt } from "../../../../src/supervisor/machine/backoff.js"

describe("backoffDelay", () => {
  it("doubles from initialMs and stops at maxMs without jitter", () => {
    const policy = { initialMs: 100, maxMs: 1_000, jitter: 0, resetAfterMs: 10_000 }
    expect([0, 1, 2, 3, 4, 5, 60, 5000].map((a) => backoffDelay(a, policy, 0.5))).toEqual([
      100, 200, 400, 800, 1000, 1000, 1000, 1000
    ])
  })

  it("stays within ±jitter of the capped exponential delay (property)", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 200 }),
        fc.integer({ min: 0, max: 5_000 }),
        fc.integer({ min: 0, max: 60_000 }),
        fc.double({ min: 0, max: 1, noNaN: true }),
        fc.double({ min: 0, max: 0.9999, noNaN: true }),
        (attempt, initialMs, maxMs, jitter, random) => {
          const policy = { initialMs, maxMs, jitter, resetAfterMs: 1 }
          const base = Math.min(maxMs, initialMs * 2 ** attempt)
          const delay = backoffDelay(attempt, policy, random)
          expect(delay).toBeGreaterThanOrEqual(Math.floor(base * (1 - jitter)) - 1)
          expect(delay).toBeLessThanOrEqual(Math.ceil(base * (1 + jitter)) + 1)
          expect(Number.isFinite(delay)).toBe(true)
        }
      )
    )
  })

  it("never decreases with the attempt number for the same random draw (property)", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 100 }),
        fc.double({ min: 0, max: 0.9999, noNaN: true }),
        (attempt, random) => {
          expect(backoffDelay(attempt + 1, DEFAULT_BACKOFF, random)).toBeGreaterThanOrEqual(
            backoffDelay(attempt, DEFAULT_BACKOFF, random)
          )
        }
      )
    )
  })
})

describe("nextAttempt", () => {
  it("counts quick crashes up and starts over after a process that lived resetAfterMs", () => {
    const policy = { ...DEFAULT_BACKOFF, resetAfterMs: 5_000 }
    expect(nextAttempt(0, 10, policy)).toBe(1)
    expect(nextAttempt(3, 4_999, policy)).toBe(4)
    expect(nextAttempt(3, 5_000, policy)).toBe(0)
  })
})
