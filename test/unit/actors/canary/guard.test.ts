// The canary guard: its pure verdict on a window's figures (each threshold, minimum samples, the order they
// are checked in), and the live canary's sliding window on TestClock (observations age out; an abort halts
// the candidate on the replica at once and is told exactly once, at the observation that crossed).
import { Clock, Effect } from "effect"
import { TestClock } from "effect/testing"
import { describe, expect, it } from "vitest"
import { emptyFigures, type Figures } from "../../../../src/actors/canary/figures.js"
import { guardVerdict } from "../../../../src/actors/canary/guard.js"
import {
  canaryAnswered,
  canaryFailed,
  type GuardAbort,
  makeLiveCanary,
  shadowed
} from "../../../../src/actors/canary/live.js"
import { servingVersion } from "../../../../src/actors/servingModel.js"
import { latencyBucket } from "../../../../src/protocol/canary.js"
import type { CanaryGuard } from "../../../../src/registry/canaryState.js"
import { fakeModel, rowSums } from "../fakes.js"
import { canaryState } from "./state.js"

const figures = (edit: (f: Figures) => void): Figures => {
  const f = emptyFigures()
  edit(f)
  return f
}

const latencies = (v: Figures["stable"], ms: number, n: number) => {
  v.requests += n
  v.latency[latencyBucket(ms)]! += n
}

const guard = (fields: Partial<CanaryGuard>): CanaryGuard => ({ windowMs: 10_000, minSamples: 10, ...fields })

describe("guardVerdict (pure)", () => {
  it("holds below the minimum samples, however bad the figures", () => {
    // 4 shadow runs and 5 answers are 9 candidate runs: one short
    const f = figures((f) => {
      f.shadow.samples = 4
      f.candidate.requests = 5
      f.candidate.errors = 5
    })
    expect(guardVerdict(guard({ minAgreement: 0.9, maxErrorRate: 0 }), f)).toEqual({ _tag: "Hold" })
  })

  it("aborts on shadow agreement below the minimum, naming it with the figures", () => {
    const f = figures((f) => {
      f.shadow.samples = 10
      f.shadow.agreements = 8
      f.shadow.maxAbsDiff = 0.5
    })
    const verdict = guardVerdict(guard({ minAgreement: 0.9 }), f)
    expect(verdict).toMatchObject({
      _tag: "Abort",
      threshold: "min-agreement",
      figures: { samples: 10, agreements: 8, agreement: 0.8, maxAbsDiff: 0.5, limit: 0.9, windowMs: 10_000 }
    })
    expect((verdict as GuardAbort).reason).toMatch(/^min-agreement: .* 8 of 10 shadowed requests \(0\.8 < 0\.9;/)
    expect(guardVerdict(guard({ minAgreement: 0.8 }), f)).toEqual({ _tag: "Hold" })
  })

  it("counts the candidate's shadow failures with its answers for the error rate", () => {
    const f = figures((f) => {
      f.candidate.requests = 8
      f.candidate.errors = 1
      f.shadow.samples = 1
      f.shadow.errors = 1
    })
    expect(guardVerdict(guard({ maxErrorRate: 0.1 }), f)).toMatchObject({
      _tag: "Abort",
      threshold: "max-error-rate",
      figures: { errors: 2, runs: 10, errorRate: 0.2 }
    })
    // 2 of 10 is not above 0.2: the limit itself is allowed
    expect(guardVerdict(guard({ maxErrorRate: 0.2 }), f)).toEqual({ _tag: "Hold" })
  })

  it("aborts on a p99 ratio above the limit once both versions have the samples", () => {
    const slow = figures((f) => {
      latencies(f.stable, 1, 100)
      latencies(f.candidate, 4, 100)
    })
    const verdict = guardVerdict(guard({ maxP99Ratio: 2 }), slow)
    expect(verdict).toMatchObject({ _tag: "Abort", threshold: "max-p99-ratio" })
    const ratio = (verdict as GuardAbort).figures.ratio!
    expect(ratio).toBeGreaterThan(3)
    expect(ratio).toBeLessThan(5)
    const alike = figures((f) => {
      latencies(f.stable, 1, 100)
      latencies(f.candidate, 1.05, 100)
    })
    expect(guardVerdict(guard({ maxP99Ratio: 2 }), alike)).toEqual({ _tag: "Hold" })
    const fewStable = figures((f) => {
      latencies(f.stable, 1, 9)
      latencies(f.candidate, 40, 100)
    })
    expect(guardVerdict(guard({ maxP99Ratio: 2 }), fewStable)).toEqual({ _tag: "Hold" })
  })

  it("checks the error rate, then agreement, then latency: the first crossed is named", () => {
    const f = figures((f) => {
      f.candidate.requests = 20
      f.candidate.errors = 20
      f.shadow.samples = 20
      latencies(f.stable, 1, 20)
    })
    expect(guardVerdict(guard({ minAgreement: 0.9, maxErrorRate: 0.4 }), f)).toMatchObject({
      threshold: "max-error-rate"
    })
    expect(guardVerdict(guard({ minAgreement: 0.9 }), f)).toMatchObject({ threshold: "min-agreement" })
  })
})

/** A live canary whose clock is the TestClock; `aborts` collects what the guard told. */
const liveOnTestClock = (g: CanaryGuard) =>
  Effect.gen(function* () {
    const clock = yield* Clock.clockWith(Effect.succeed)
    const aborts: Array<GuardAbort> = []
    const candidate = servingVersion(fakeModel(async (i) => rowSums(i)).model, 2, true)
    const canary = makeLiveCanary(
      canaryState({ percent: 50, shadow: 100, guard: g }),
      candidate,
      (v) => aborts.push(v),
      () => clock.currentTimeMillisUnsafe()
    )
    return { canary, aborts, candidate }
  })

const disagree = { agree: false, maxAbsDiff: 1 }
const agree = { agree: true, maxAbsDiff: 0 }

const onTestClock = <A>(program: Effect.Effect<A>) => Effect.runPromise(program.pipe(Effect.provide(TestClock.layer())))

describe("the guard over a live canary's window (TestClock)", () => {
  it("aborts at the very observation that reaches min-samples, halts the candidate and tells once", async () => {
    const { aborts, share, shadowShare, later } = await onTestClock(
      Effect.gen(function* () {
        const { canary, aborts } = yield* liveOnTestClock({ windowMs: 10_000, minSamples: 5, minAgreement: 0.9 })
        for (let i = 0; i < 4; i++) {
          shadowed(canary, disagree)
          yield* TestClock.adjust(100)
        }
        const before = aborts.length
        shadowed(canary, disagree)
        const at = { share: canary.share, shadowShare: canary.shadowShare }
        for (let i = 0; i < 10; i++) shadowed(canary, disagree)
        return { aborts, share: at.share, shadowShare: at.shadowShare, later: before }
      })
    )
    expect(later).toBe(0)
    expect(aborts).toHaveLength(1)
    expect(aborts[0]!.figures).toMatchObject({ samples: 5, agreements: 0 })
    expect(share).toBe(0)
    expect(shadowShare).toBe(0)
  })

  it("forgets observations older than the window: bad samples spread thinner than the window never abort", async () => {
    const aborts = await onTestClock(
      Effect.gen(function* () {
        const { canary, aborts } = yield* liveOnTestClock({ windowMs: 10_000, minSamples: 5, minAgreement: 0.9 })
        // four bad samples per window length, forty times over: never five inside one window
        for (let i = 0; i < 160; i++) {
          shadowed(canary, disagree)
          yield* TestClock.adjust(2_600)
        }
        return aborts
      })
    )
    expect(aborts).toEqual([])
  })

  it("aborts once five bad samples fall inside one window after a quiet spell", async () => {
    const figures = await onTestClock(
      Effect.gen(function* () {
        const { canary, aborts } = yield* liveOnTestClock({ windowMs: 10_000, minSamples: 5, minAgreement: 0.5 })
        for (let i = 0; i < 4; i++) shadowed(canary, disagree)
        yield* TestClock.adjust(11_000)
        // the four above are out: 4 agreeing + 1 bad = 0.8 agreement, holds
        for (let i = 0; i < 4; i++) shadowed(canary, agree)
        shadowed(canary, disagree)
        const held = aborts.length
        for (let i = 0; i < 5; i++) shadowed(canary, disagree)
        return { held, abort: aborts[0] }
      })
    )
    expect(figures.held).toBe(0)
    // 4 agreeing of 9 < 0.5 at the ninth sample
    expect(figures.abort?.figures).toMatchObject({ samples: 9, agreements: 4 })
  })

  it("counts the candidate's answers and model failures, not a missed deadline, for the error rate", async () => {
    const result = await onTestClock(
      Effect.gen(function* () {
        const { canary, aborts, candidate } = yield* liveOnTestClock({
          windowMs: 10_000,
          minSamples: 10,
          maxErrorRate: 0.15
        })
        const job = { inputs: {}, outputs: undefined }
        for (let i = 0; i < 9; i++) canaryAnswered(canary, job, candidate, {}, 1)
        canaryFailed(canary, candidate, 1, false)
        const afterDeadline = aborts.length
        canaryFailed(canary, candidate, 1, true)
        const afterOne = aborts.length
        canaryFailed(canary, candidate, 1, true)
        return { afterDeadline, afterOne, aborts, figures: canary.figures.candidate }
      })
    )
    expect(result.afterDeadline).toBe(0)
    // 1 of 10 = 0.1: holds; 2 of 11 = 0.18: aborts
    expect(result.afterOne).toBe(0)
    expect(result.aborts).toHaveLength(1)
    expect(result.aborts[0]!.figures).toMatchObject({ errors: 2, runs: 11 })
    expect(result.figures).toMatchObject({ requests: 11, errors: 2 })
  })
})
