// OTP restart intensity as a pure sliding window, checked against a reference model: a restart
// counts while `now - t <= periodMs` (OTP's inPeriod); more than `intensity` counted restarts means give up.
import fc from "fast-check"
import { describe, expect, it } from "vitest"
import { type IntensityPolicy, recordRestart } from "../../../../src/supervisor/machine/intensity.js"

const policyArb = fc.record({
  intensity: fc.integer({ min: 0, max: 6 }),
  periodMs: fc.integer({ min: 1, max: 10_000 })
})
/** Restart times in order (equal times allowed: two children failing in the same millisecond). */
const timesArb = fc
  .tuple(fc.integer({ min: 0, max: 1_000_000 }), fc.array(fc.integer({ min: 0, max: 5_000 }), { maxLength: 40 }))
  .map(([start, gaps]) =>
    gaps.reduce<Array<number>>((acc, gap) => {
      acc.push((acc.at(-1) ?? start) + gap)
      return acc
    }, [])
  )

/** The reference: from the full history, which restarts are within the period of `now`. */
const inWindow = (history: ReadonlyArray<number>, now: number, periodMs: number) =>
  history.filter((t) => now - t <= periodMs)

const replay = (times: ReadonlyArray<number>, policy: IntensityPolicy) => {
  let window: ReadonlyArray<number> = []
  return times.map((now) => {
    const decision = recordRestart(window, now, policy)
    window = decision.window
    return decision
  })
}

describe("recordRestart", () => {
  it("matches the reference model at every restart (property)", () => {
    fc.assert(
      fc.property(policyArb, timesArb, (policy, times) => {
        replay(times, policy).forEach((decision, k) => {
          const expected = inWindow(times.slice(0, k + 1), times[k]!, policy.periodMs)
          expect(decision.window).toEqual(expected)
          expect(decision.exceeded).toBe(expected.length > policy.intensity)
        })
      })
    )
  })

  it("is never exceeded while at most `intensity` restarts fall in any window of periodMs (property)", () => {
    fc.assert(
      fc.property(policyArb, timesArb, (policy, times) => {
        const calm = times.every(
          (now, k) => inWindow(times.slice(0, k + 1), now, policy.periodMs).length <= policy.intensity
        )
        fc.pre(calm)
        for (const d of replay(times, policy)) expect(d.exceeded).toBe(false)
      })
    )
  })

  it("restarts spaced more than one period apart never exceed an intensity of 1 or more (property)", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 6 }),
        fc.integer({ min: 1, max: 10_000 }),
        fc.integer({ min: 1, max: 50 }),
        (intensity, periodMs, n) => {
          const times = Array.from({ length: n }, (_, i) => i * (periodMs + 1))
          for (const d of replay(times, { intensity, periodMs })) {
            expect(d.exceeded).toBe(false)
            expect(d.window).toHaveLength(1)
          }
        }
      )
    )
  })

  it("is exceeded exactly when the (intensity+1)th restart lands within the period (property)", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 6 }),
        fc.integer({ min: 1, max: 10_000 }),
        fc.integer({ min: 0, max: 1_000_000 }),
        fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { minLength: 7, maxLength: 7 }),
        (intensity, periodMs, start, fractions) => {
          // intensity+1 restarts spread over less than one period
          const offsets = fractions
            .slice(0, intensity + 1)
            .map((f) => Math.floor(f * (periodMs - 1)))
            .sort((a, b) => a - b)
          const times = offsets.map((o) => start + o)
          const decisions = replay(times, { intensity, periodMs })
          for (const d of decisions.slice(0, -1)) expect(d.exceeded).toBe(false)
          expect(decisions.at(-1)!.exceeded).toBe(true)
          // the same restart more than one period after the first is not within it
          const late = [...times.slice(0, -1), Math.max(times.at(-1)!, times[0]! + periodMs + 1)]
          if (intensity > 0) expect(replay(late, { intensity, periodMs }).at(-1)!.exceeded).toBe(false)
        }
      )
    )
  })

  it("old timestamps drop out of the window (property)", () => {
    fc.assert(
      fc.property(
        policyArb,
        fc.array(fc.integer({ min: 0, max: 100_000 }), { maxLength: 20 }),
        fc.integer({ min: 0, max: 100_000 }),
        (policy, earlier, gap) => {
          const sorted = [...earlier].sort((a, b) => a - b)
          const now = (sorted.at(-1) ?? 0) + gap
          const { window } = recordRestart(sorted, now, policy)
          expect(window.at(-1)).toBe(now)
          for (const t of window.slice(0, -1)) expect(now - t).toBeLessThanOrEqual(policy.periodMs)
          expect(window.length - 1).toBe(sorted.filter((t) => now - t <= policy.periodMs).length)
          // nothing is invented or reordered
          expect(window.slice(0, -1)).toEqual(sorted.filter((t) => now - t <= policy.periodMs))
        }
      )
    )
  })

  it("a restart exactly periodMs old still counts, as in OTP (defect 7); one ms later it does not", () => {
    const policy = { intensity: 1, periodMs: 10_000 }
    expect(recordRestart([0], 9_999, policy)).toEqual({ window: [0, 9_999], exceeded: true })
    expect(recordRestart([0], 10_000, policy)).toEqual({ window: [0, 10_000], exceeded: true })
    expect(recordRestart([0], 10_001, policy)).toEqual({ window: [10_001], exceeded: false })
  })

  it("intensity 0 means the first restart exceeds", () => {
    expect(recordRestart([], 123, { intensity: 0, periodMs: 1 }).exceeded).toBe(true)
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 1e6 }), fc.nat(), (periodMs, now) => {
        expect(recordRestart([], now, { intensity: 0, periodMs }).exceeded).toBe(true)
      })
    )
  })

  it("the default policy (3 in 10 s) gives up on the 4th restart within 10 s", () => {
    const policy = { intensity: 3, periodMs: 10_000 }
    expect(replay([0, 1_000, 2_000, 3_000], policy).map((d) => d.exceeded)).toEqual([false, false, false, true])
    expect(replay([0, 1_000, 2_000, 10_500], policy).map((d) => d.exceeded)).toEqual([false, false, false, false])
  })

  it("does not mutate the window it is given", () => {
    const window = Object.freeze([1, 2, 3])
    recordRestart(window, 4, { intensity: 5, periodMs: 10 })
    expect(window).toEqual([1, 2, 3])
  })
})
