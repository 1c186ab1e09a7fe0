// The batch-size probe and the sizer on fake models and a fake clock: the sizes timed and how often, the
// budget, a size that throws, requests answered between probe calls, a fixed limit left alone, an update
// measured again, and a version replaced mid-probe never deciding the limit.
import { Effect, Exit, Scope } from "effect"
import { describe, expect, it } from "vitest"
import { makeAdmission } from "../../../src/actors/admission.js"
import { makeBatcher } from "../../../src/actors/batcher.js"
import { type BatchLimitContext, batchSizer } from "../../../src/actors/batchLimit.js"
import { probeBatchSizes, zeroBatch } from "../../../src/actors/batchProbe.js"
import type { BatchProbeOptions } from "../../../src/actors/batchSizing.js"
import { type ModelLoop, makeModelLoop } from "../../../src/actors/modelLoop.js"
import { servingModel, swapIn } from "../../../src/actors/servingModel.js"
import { actorStats } from "../../../src/actors/stats.js"
import type { BatchingOptions, BatchLimit } from "../../../src/protocol/ipc.js"
import { fakeModel, rowSums } from "./fakes.js"

const options: BatchProbeOptions = { maxSize: 64, budgetMs: 300, repetitions: 5, tolerance: 0.03, fallback: 32 }

/** A model whose call at batch size `s` takes `msOf(s)` on a fake clock (or throws); models may share a clock. */
const timedModel = (msOf: (size: number) => number | "throw", clock = { ms: 0 }) => {
  const { model, calls } = fakeModel(async (inputs) => {
    const rows = inputs.x!.shape[0]!
    const ms = msOf(rows)
    if (ms === "throw") throw new Error(`out of memory at ${rows}`)
    clock.ms += ms
    return rowSums(inputs)
  })
  return { model, calls, clock, now: () => clock.ms }
}

/** A conv-like curve: best samples/s at 16. */
const CONV_MS: Record<number, number> = { 1: 0.3, 2: 0.32, 4: 0.4, 8: 0.6, 16: 1.1, 32: 2.9, 64: 12.8 }

const direct = { between: <A>(task: () => Promise<A>) => task(), stale: () => false }

describe("zeroBatch", () => {
  it("gives every input `size` rows of zeros, other dimensions as the signature says", () => {
    const batch = zeroBatch(
      [
        { name: "image", dtype: "float32", shape: [null, 3, 2] },
        { name: "ids", dtype: "int32", shape: [null, 4] }
      ],
      8
    )
    expect(batch.image).toMatchObject({ dtype: "float32", shape: [8, 3, 2] })
    expect(batch.image!.data).toEqual(new Float32Array(48))
    expect(batch.ids!.data).toBeInstanceOf(Int32Array)
    expect(batch.ids!.shape).toEqual([8, 4])
  })
})

describe("probeBatchSizes", () => {
  it("times each size `repetitions` times after a warm-up call, on zero inputs", async () => {
    const m = timedModel((s) => CONV_MS[s]!)
    const table = await probeBatchSizes(m.model, { ...direct, now: m.now }, options)
    expect(table.map((t) => t.size)).toEqual([1, 2, 4, 8, 16, 32, 64])
    for (const t of table) {
      expect(t.callMs).toHaveLength(5)
      for (const ms of t.callMs) expect(ms).toBeCloseTo(CONV_MS[t.size]!, 9)
    }
    expect(m.calls).toHaveLength(7 * 6)
    // the first pass goes up (a warm-up and a timed call a size), the next ones down, up, …
    expect(m.calls.slice(0, 28)).toEqual([
      ...[1, 1, 2, 2, 4, 4, 8, 8, 16, 16, 32, 32, 64, 64],
      ...[64, 32, 16, 8, 4, 2, 1, 1, 2, 4, 8, 16, 32, 64]
    ])
  })

  it("stops once the calls have taken the budget, at most one call over, when the machine slows down", async () => {
    // 1 ms a row during the first pass (it grows to 16: 31 ms a pass, 186 ms planned), then 3 ms a row
    let calls = 0
    const m = timedModel((s) => (++calls <= 10 ? s : 3 * s))
    const table = await probeBatchSizes(m.model, { ...direct, now: m.now }, options)
    expect(table.map((t) => t.size)).toEqual([1, 2, 4, 8, 16])
    expect(m.now()).toBeGreaterThanOrEqual(options.budgetMs)
    expect(m.now()).toBeLessThanOrEqual(options.budgetMs + 3 * 16)
    expect(table.every((t) => t.callMs.length < options.repetitions)).toBe(true)
  })

  it("counts warm-up calls in the budget: slow ones end the first pass early", async () => {
    let calls = 0
    // odd calls are the warm-ups: 110 ms each; the timed calls take 0.1 ms
    const m = timedModel(() => (++calls % 2 === 1 ? 110 : 0.1))
    const table = await probeBatchSizes(m.model, { ...direct, now: m.now }, options)
    expect(table).toEqual([1, 2, 4].map((size) => ({ size, callMs: [expect.closeTo(0.1, 9)] })))
    expect(m.calls).toEqual([1, 1, 2, 2, 4, 4])
  })

  it("stops growing at a size that throws and judges the sizes below it", async () => {
    const m = timedModel((s) => (s >= 16 ? "throw" : CONV_MS[s]!))
    const table = await probeBatchSizes(m.model, { ...direct, now: m.now }, options)
    expect(table.map((t) => t.size)).toEqual([1, 2, 4, 8])
    expect(table.every((t) => t.callMs.length === 5)).toBe(true)
  })

  it("stops when the version it measures is no longer served", async () => {
    const m = timedModel((s) => CONV_MS[s]!)
    let calls = 0
    const table = await probeBatchSizes(
      m.model,
      {
        between: (task) => {
          calls++
          return task()
        },
        stale: () => calls >= 3,
        now: m.now
      },
      options
    )
    expect(table).toEqual([])
    expect(m.calls).toEqual([1, 1, 2, 2])
  })
})

/** A batcher and model loop over `model`, the batcher's setLimit also recording each limit set. */
const batcherFor = (model: ReturnType<typeof timedModel>["model"], batching: BatchingOptions) => {
  const stats = actorStats()
  const serving = servingModel(model, 1)
  const batcher = makeBatcher(stats, batching)
  const loop = makeModelLoop(
    { actorId: "fake-1", modelName: "fake", serving, stats, admission: makeAdmission(1024), logDefect: () => {} },
    batcher
  )
  const limits: Array<BatchLimit> = []
  const waiters: Array<(limit: BatchLimit) => void> = []
  const recording: BatchLimitContext["batcher"] = {
    limit: batcher.limit,
    setLimit: (limit) => {
      batcher.setLimit(limit)
      limits.push(limit)
      if (limit.source !== "probing") waiters.shift()?.(limit)
    }
  }
  /** Resolves with the next limit that is not `probing`. */
  const decided = () => new Promise<BatchLimit>((resolve) => waiters.push(resolve))
  return { stats, serving, batcher: recording, between: loop.between, limits, decided }
}

const withScope = async <A>(use: (scope: Scope.Closeable) => Promise<A>): Promise<A> => {
  const scope = Effect.runSync(Scope.make())
  try {
    return await use(scope)
  } finally {
    await Effect.runPromise(Scope.close(scope, Exit.void))
  }
}

describe("batchSizer", () => {
  it("under auto, starts at the fallback while probing and applies the measured peak", async () => {
    const m = timedModel((s) => CONV_MS[s]!)
    const b = batcherFor(m.model, { maxBatchSize: "auto", maxDelayMs: 0 })
    expect(b.stats.batchLimit).toEqual({ maxBatchSize: 32, source: "probing" })
    await withScope(async (scope) => {
      const sizer = await Effect.runPromise(
        Scope.provide(scope)(
          batchSizer({
            actorId: "fake-1",
            modelName: "fake",
            serving: b.serving,
            batcher: b.batcher,
            between: b.between,
            options: { maxBatchSize: "auto", maxDelayMs: 0 },
            probe: options,
            now: m.now
          })
        )
      )
      const decided = b.decided()
      sizer.measure()
      expect(await decided).toEqual({ maxBatchSize: 16, source: "measured", version: 1 })
      expect(b.stats.batchLimit).toEqual({ maxBatchSize: 16, source: "measured", version: 1 })
    })
  })

  it("measures again after an update, for the new version's own curve", async () => {
    const m = timedModel((s) => CONV_MS[s]!)
    const b = batcherFor(m.model, { maxBatchSize: "auto", maxDelayMs: 0 })
    await withScope(async (scope) => {
      const sizer = await Effect.runPromise(
        Scope.provide(scope)(
          batchSizer({
            actorId: "fake-1",
            modelName: "fake",
            serving: b.serving,
            batcher: b.batcher,
            between: b.between,
            options: { maxBatchSize: "auto", maxDelayMs: 0 },
            probe: options,
            now: m.now
          })
        )
      )
      const first = b.decided()
      sizer.measure()
      expect((await first).maxBatchSize).toBe(16)
      // version 2 pays per call, not per row: the largest size wins
      const v2 = timedModel(() => 0.2, m.clock)
      swapIn(b.serving, v2.model, 2)
      const second = b.decided()
      sizer.measure()
      expect(await second).toEqual({ maxBatchSize: 64, source: "measured", version: 2 })
      expect(b.limits.map((l) => l.source)).toEqual(["probing", "measured", "probing", "measured"])
    })
  })

  it("never lets a version replaced while it was probed decide the limit", async () => {
    const v1 = timedModel((s) => CONV_MS[s]!)
    const b = batcherFor(v1.model, { maxBatchSize: "auto", maxDelayMs: 0 })
    const v2 = timedModel(() => 0.2, v1.clock)
    // the update lands during version 1's probe, on its fourth call, and asks for a measurement as an actor does
    let v1Calls = 0
    let measure = () => {}
    const original = v1.model.predict
    Object.assign(v1.model, {
      predict: (...args: Parameters<typeof original>) => {
        if (++v1Calls === 4) {
          swapIn(b.serving, v2.model, 2)
          measure()
        }
        return original(...args)
      }
    })
    await withScope(async (scope) => {
      const sizer = await Effect.runPromise(
        Scope.provide(scope)(
          batchSizer({
            actorId: "fake-1",
            modelName: "fake",
            serving: b.serving,
            batcher: b.batcher,
            between: b.between,
            options: { maxBatchSize: "auto", maxDelayMs: 0 },
            probe: options,
            now: v1.now
          })
        )
      )
      measure = sizer.measure
      const decided = b.decided()
      sizer.measure()
      expect(await decided).toEqual({ maxBatchSize: 64, source: "measured", version: 2 })
      expect(v1Calls).toBe(4)
    })
  })

  it("holds the version it probes only during a call: one swapped out between calls is disposed at once", async () => {
    const v1 = timedModel((s) => CONV_MS[s]!)
    let disposed = false
    Object.assign(v1.model, { dispose: () => (disposed = true) })
    const b = batcherFor(v1.model, { maxBatchSize: "auto", maxDelayMs: 0 })
    const v2 = timedModel(() => 0.2, v1.clock)
    let measure = () => {}
    let calls = 0
    let disposedAtSwap: boolean | undefined
    const between: ModelLoop["between"] = (task) =>
      b.between(task).then((result) => {
        // after version 1's third call, before its fourth: what an update landing between calls does
        if (++calls === 3) {
          swapIn(b.serving, v2.model, 2)
          disposedAtSwap = disposed
          measure()
        }
        return result
      })
    await withScope(async (scope) => {
      const sizer = await Effect.runPromise(
        Scope.provide(scope)(
          batchSizer({
            actorId: "fake-1",
            modelName: "fake",
            serving: b.serving,
            batcher: b.batcher,
            between,
            options: { maxBatchSize: "auto", maxDelayMs: 0 },
            probe: options,
            now: v1.now
          })
        )
      )
      measure = sizer.measure
      const decided = b.decided()
      sizer.measure()
      expect(await decided).toEqual({ maxBatchSize: 64, source: "measured", version: 2 })
      expect(disposedAtSwap).toBe(true)
      expect(v1.calls).toEqual([1, 1, 2])
    })
  })

  it("leaves a fixed maxBatchSize alone: no probe, the config's limit", async () => {
    const m = timedModel((s) => CONV_MS[s]!)
    const b = batcherFor(m.model, { maxBatchSize: 8, maxDelayMs: 0 })
    await withScope(async (scope) => {
      const sizer = await Effect.runPromise(
        Scope.provide(scope)(
          batchSizer({
            actorId: "fake-1",
            modelName: "fake",
            serving: b.serving,
            batcher: b.batcher,
            between: b.between,
            options: { maxBatchSize: 8, maxDelayMs: 0 },
            probe: options,
            now: m.now
          })
        )
      )
      sizer.measure()
      // a probe's calls would queue in the batcher's loop before these tasks
      for (let turn = 0; turn < 3; turn++) await b.between(() => Promise.resolve())
      expect(m.calls).toEqual([])
      expect(b.stats.batchLimit).toEqual({ maxBatchSize: 8, source: "config" })
      expect(b.limits).toEqual([])
    })
  })

  it("gives a model with a fixed batch dimension a limit of 1 without probing", async () => {
    const { model, calls } = fakeModel(async (inputs) => rowSums(inputs), {
      format: "layers",
      inputs: [{ name: "x", dtype: "float32", shape: [1, 2] }],
      outputs: [{ name: "y", dtype: "float32", shape: [1, 1] }]
    })
    const b = batcherFor(model, { maxBatchSize: "auto", maxDelayMs: 0 })
    await withScope(async (scope) => {
      const sizer = await Effect.runPromise(
        Scope.provide(scope)(
          batchSizer({
            actorId: "fake-1",
            modelName: "fake",
            serving: b.serving,
            batcher: b.batcher,
            between: b.between,
            options: { maxBatchSize: "auto", maxDelayMs: 0 },
            probe: options
          })
        )
      )
      const decided = b.decided()
      sizer.measure()
      expect(await decided).toEqual({ maxBatchSize: 1, source: "fallback", version: 1 })
      expect(calls).toEqual([])
    })
  })
})
