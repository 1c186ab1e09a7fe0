// The autoscaling decision as a pure function: table tests of single calls, then load traces
// replayed on TestClock (a 10× step, a sawtooth, a burst train that makes a naive policy flap).
import { Clock, Effect } from "effect"
import { TestClock } from "effect/testing"
import { describe, expect, it as vitestIt } from "vitest"
import {
  type AutoscaleMemory,
  decide,
  initialMemory,
  type LoadSample,
  record,
  wantedReplicas
} from "../../../../src/supervisor/machine/autoscale.js"
import type { AutoscalePolicy } from "../../../../src/supervisor/machine/autoscalePolicy.js"
import { it } from "../../../helpers/effectVitest.js"

const policy: AutoscalePolicy = {
  min: 1,
  max: 10,
  targetInflight: 2,
  upscaleDelayMs: 1_000,
  downscaleDelayMs: 10_000,
  lookbackMs: 500,
  maxHeldRequests: 10,
  maxHeldBytes: 1024
}

const sample = (at: number, inflight: number, extra: Partial<LoadSample> = {}): LoadSample => ({
  at,
  replicas: 1,
  inflight,
  refused: 0,
  leftQueueGroup: 0,
  held: 0,
  queued: 0,
  ...extra
})

describe("wantedReplicas", () => {
  vitestIt.each([
    ["no samples: what there is", [], 3, 3],
    ["average in flight over targetInflight, rounded up", [sample(0, 3), sample(1, 5)], 1, 2],
    ["an idle model keeps min", [sample(0, 0)], 4, 1],
    ["never above max", [sample(0, 400)], 1, 10],
    ["a refusal: one more than served", [sample(0, 2, { replicas: 3, refused: 1 })], 3, 4],
    ["a replica that left the queue group: one more", [sample(0, 0, { replicas: 2, leftQueueGroup: 1 })], 2, 3],
    ["exactly at the target per replica", [sample(0, 4), sample(1, 4)], 2, 2],
    ["queued batch work keeps one replica while online load is nil", [sample(0, 0, { queued: 3 })], 4, 1],
    ["queued batch work adds nothing to online load", [sample(0, 6, { queued: 3 })], 1, 3],
    ["only the newest sample's batch work counts", [sample(0, 0, { queued: 3 }), sample(1, 0)], 1, 1]
  ] as const)("%s", (_, window, current, wanted) => {
    expect(wantedReplicas(policy, window, current).wanted).toBe(wanted)
  })
})

describe("decide", () => {
  const at = (target: number, extra: Partial<AutoscaleMemory> = {}): AutoscaleMemory => ({
    ...initialMemory(target),
    ...extra
  })
  vitestIt.each([
    ["holds at target", at(2), [sample(0, 4)], 100, 2, false, "at target"],
    ["waits upscaleDelayMs before going up", at(1), [sample(0, 8)], 100, 1, false, "waiting 1000 ms more"],
    [
      "goes up to what load wants once pressure lasted upscaleDelayMs",
      at(1, { pressure: { direction: "up", since: 0 } }),
      [sample(900, 8)],
      1_000,
      4,
      true,
      "load above target for 1000 ms"
    ],
    [
      "waits downscaleDelayMs before going down",
      at(4, { pressure: { direction: "down", since: 0 } }),
      [sample(9_000, 0)],
      9_999,
      4,
      false,
      "waiting 1 ms more"
    ],
    [
      "goes down after downscaleDelayMs below target",
      at(4, { pressure: { direction: "down", since: 0 } }),
      [sample(9_900, 2)],
      10_000,
      1,
      true,
      "load below target for 10000 ms"
    ],
    [
      "a full replica counts as wanting more",
      at(1, { pressure: { direction: "up", since: 0 } }),
      [sample(1_000, 1, { refused: 3 })],
      1_000,
      2,
      true,
      "replicas full"
    ],
    [
      "going up right after going down waits out downscaleDelayMs",
      at(1, { pressure: { direction: "up", since: 0 }, lastChange: { at: 0, direction: "down" } }),
      [sample(2_000, 8)],
      2_000,
      1,
      false,
      "direction changed recently, 8000 ms to go"
    ],
    [
      "another step up right after going up is allowed",
      at(4, { pressure: { direction: "up", since: 0 }, lastChange: { at: 0, direction: "up" } }),
      [sample(2_000, 16)],
      2_000,
      8,
      true,
      "load above target"
    ],
    ["follows bounds that moved at once", at(12), [sample(0, 100)], 5, 10, true, "bounds 1..10"]
  ] as const)("%s", (_, memory, window, now, target, changed, reason) => {
    const decision = decide(policy, memory, window, now)
    expect(decision.target).toBe(target)
    expect(decision.changed).toBe(changed)
    expect(decision.reason).toContain(reason)
  })

  const zeroPolicy = { ...policy, min: 0 }
  vitestIt.each([
    [
      "goes to zero after downscaleDelayMs idle when min is 0",
      at(1, { pressure: { direction: "down", since: 0 } }),
      [sample(10_000, 0)],
      10_000,
      0,
      true,
      "load below target"
    ],
    [
      "wakes from zero at once for a held request, even right after going down",
      at(0, { lastChange: { at: 0, direction: "down" } }),
      [sample(0, 0, { replicas: 0 }), sample(100, 1, { replicas: 0, held: 1 })],
      100,
      1,
      true,
      "woken by a held request"
    ],
    ["stays at zero while nothing is held", at(0), [sample(100, 0, { replicas: 0 })], 100, 0, false, "at target"],
    [
      "wakes from zero at once for queued batch work, even right after going down",
      at(0, { lastChange: { at: 0, direction: "down" } }),
      [sample(0, 0, { replicas: 0 }), sample(100, 0, { replicas: 0, queued: 5 })],
      100,
      1,
      true,
      "woken by queued batch work"
    ],
    [
      "keeps its replica while batch work is queued, however long it is idle online",
      at(1, { pressure: { direction: "down", since: 0 } }),
      [sample(60_000, 0, { queued: 1 })],
      60_000,
      1,
      false,
      "at target"
    ],
    [
      "goes back to zero after downscaleDelayMs once the batch work is done",
      at(1, { pressure: { direction: "down", since: 0 }, lastChange: { at: 0, direction: "up" } }),
      [sample(60_000, 0, { queued: 0 })],
      60_000,
      0,
      true,
      "load below target"
    ]
  ] as const)("min 0: %s", (_, memory, window, now, target, changed, reason) => {
    const decision = decide(zeroPolicy, memory, window, now)
    expect(decision.target).toBe(target)
    expect(decision.changed).toBe(changed)
    expect(decision.reason).toContain(reason)
  })

  vitestIt("a break in the pressure starts its delay again", () => {
    const up = decide(policy, initialMemory(1), [sample(0, 8)], 0)
    expect(up.memory.pressure).toEqual({ direction: "up", since: 0 })
    const level = decide(policy, up.memory, [sample(500, 2)], 500)
    expect(level.memory.pressure).toBeUndefined()
    const again = decide(policy, level.memory, [sample(900, 8)], 900)
    expect(again.memory.pressure).toEqual({ direction: "up", since: 900 })
    expect(decide(policy, again.memory, [sample(1_500, 8)], 1_500).changed).toBe(false)
    expect(decide(policy, again.memory, [sample(1_900, 8)], 1_900).target).toBe(4)
  })

  vitestIt("record keeps the last lookbackMs of samples", () => {
    const window = [0, 100, 200, 300].reduce<ReadonlyArray<LoadSample>>((w, t) => record(w, sample(t, t), 250), [])
    expect(window.map((s) => s.at)).toEqual([100, 200, 300])
  })
})

interface Point {
  readonly at: number
  readonly target: number
}

/**
 * Replays `load` (requests in flight at time t, whatever the replicas) for `durationMs` on TestClock,
 * a sample every `sampleMs`, the replicas following the target at once; returns every target.
 */
const replay = (p: AutoscalePolicy, load: (t: number) => number, durationMs: number, sampleMs = 100) =>
  Effect.gen(function* () {
    const origin = Number(yield* Clock.monotonicTimeNanos) / 1e6
    let memory = initialMemory(p.min)
    let window: ReadonlyArray<LoadSample> = []
    const trace: Array<Point> = []
    for (let elapsed = 0; elapsed <= durationMs; elapsed += sampleMs) {
      const now = Number(yield* Clock.monotonicTimeNanos) / 1e6 - origin
      window = record(window, sample(now, load(now), { replicas: memory.target }), p.lookbackMs)
      memory = decide(p, memory, window, now).memory
      trace.push({ at: now, target: memory.target })
      yield* TestClock.adjust(sampleMs)
    }
    return trace
  })

/** The times the target moved, with their direction. */
const changesOf = (trace: ReadonlyArray<Point>) =>
  trace.flatMap((point, i) => {
    const before = trace[i - 1]
    if (before === undefined || before.target === point.target) return []
    return [{ at: point.at, direction: point.target > before.target ? "up" : "down", target: point.target }]
  })

/** The times the direction of change reversed. */
const reversalsOf = (trace: ReadonlyArray<Point>) => {
  const changes = changesOf(trace)
  return changes.filter((c, i) => i > 0 && changes[i - 1]!.direction !== c.direction).map((c) => c.at)
}

const expectAtMostOneReversalPer = (trace: ReadonlyArray<Point>, periodMs: number) => {
  const changes = changesOf(trace)
  // every reversal comes at least periodMs after the change before it
  for (const [i, c] of changes.entries()) {
    const before = changes[i - 1]
    if (before !== undefined && before.direction !== c.direction)
      expect(c.at - before.at).toBeGreaterThanOrEqual(periodMs)
  }
}

describe("load traces on TestClock", () => {
  it.effect(
    "a 10× step: up to max within the upscale delay and the lookback, down only after the downscale delay",
    () =>
      Effect.gen(function* () {
        // 2 in flight (1 replica), then 20 (10 replicas) from 10 s to 40 s, then 2 again
        const load = (t: number) => (t >= 10_000 && t < 40_000 ? 20 : 2)
        const trace = yield* replay(policy, load, 70_000)
        const targetAt = (t: number) => trace.findLast((p) => p.at <= t)!.target
        expect(targetAt(9_999)).toBe(1)
        const reachedMax = trace.find((p) => p.target === 10)!.at
        expect(reachedMax).toBeGreaterThanOrEqual(10_000 + policy.upscaleDelayMs)
        expect(reachedMax).toBeLessThanOrEqual(10_000 + 2 * policy.upscaleDelayMs + policy.lookbackMs)
        expect(
          trace
            .filter((p) => p.at >= 10_000 && p.at < 40_000)
            .every((p, i, a) => i === 0 || p.target >= a[i - 1]!.target)
        ).toBe(true)
        const firstDown = changesOf(trace).find((c) => c.direction === "down")!
        expect(firstDown.at).toBeGreaterThanOrEqual(40_000 + policy.downscaleDelayMs)
        expect(targetAt(70_000)).toBe(1)
        expect(reversalsOf(trace)).toHaveLength(1)
      })
  )

  it.effect("a sawtooth: the target stays inside min..max and reverses at most once per downscaleDelayMs", () =>
    Effect.gen(function* () {
      // load climbs from 0 to 20 over 15 s, drops to 0, and again, for 2 minutes
      const load = (t: number) => ((t % 15_000) / 15_000) * 20
      const trace = yield* replay(policy, load, 120_000)
      expect(trace.every((p) => p.target >= policy.min && p.target <= policy.max)).toBe(true)
      expect(changesOf(trace).length).toBeGreaterThan(0)
      expectAtMostOneReversalPer(trace, policy.downscaleDelayMs)
    })
  )

  it.effect("a burst train flaps a naive policy, and ours reverses at most once per downscaleDelayMs", () =>
    Effect.gen(function* () {
      // 3 s bursts of 16 in flight, 3 s of nothing between them, for a minute, then quiet
      const load = (t: number) => (t < 60_000 && t % 6_000 < 3_000 ? 16 : 0)
      const naive = { ...policy, upscaleDelayMs: 0, downscaleDelayMs: 0, lookbackMs: 1 }
      const naiveTrace = yield* replay(naive, load, 80_000)
      expect(reversalsOf(naiveTrace).length).toBeGreaterThanOrEqual(15)
      const trace = yield* replay(policy, load, 80_000)
      expectAtMostOneReversalPer(trace, policy.downscaleDelayMs)
      // up on the first burst, held through the train, down once after it
      expect(changesOf(trace).filter((c) => c.direction === "up").length).toBeLessThanOrEqual(2)
      expect(reversalsOf(trace)).toHaveLength(1)
      expect(trace.at(-1)!.target).toBe(policy.min)
    })
  )
})
