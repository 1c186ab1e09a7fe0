// Batch sizing decisions on made-up timing tables: the first pass grows within the budget and stops at a
// failure, the choice takes the peak (or the smallest size near it), copes with monotonic curves, noise,
// ties and a probe that timed too little; models that cannot be probed get a fixed limit.
import fc from "fast-check"
import { describe, expect, it } from "vitest"
import {
  BATCH_PROBE,
  type BatchProbeOptions,
  chooseBatchSize,
  describeTimings,
  type FirstCall,
  nextProbeSize,
  passOrder,
  probeBlocker,
  type SizeTimings,
  samplesPerSecond
} from "../../../src/actors/batchSizing.js"
import type { ModelSignature } from "../../../src/model/specs.js"

const options: BatchProbeOptions = { maxSize: 64, budgetMs: 300, repetitions: 5, tolerance: 0.03, fallback: 32 }

/** A table where each size's calls all take `msOf(size)`. */
const table = (msOf: (size: number) => number, sizes = [1, 2, 4, 8, 16, 32, 64]): Array<SizeTimings> =>
  sizes.map((size) => ({ size, callMs: [msOf(size), msOf(size), msOf(size)] }))

/** The first pass as `nextProbeSize` drives it, each call taking `msOf(size)` (or failing). */
const firstPass = (msOf: (size: number) => number | "fail", o = options): Array<FirstCall> => {
  const done: Array<FirstCall> = []
  for (let size = nextProbeSize(done, o); size !== undefined; size = nextProbeSize(done, o)) {
    const ms = msOf(size)
    done.push(ms === "fail" ? { size, failed: true } : { size, ms })
  }
  return done
}

describe("nextProbeSize", () => {
  it("doubles from 1 up to maxSize when the model is cheap", () => {
    expect(firstPass(() => 0.1).map((c) => c.size)).toEqual([1, 2, 4, 8, 16, 32, 64])
    expect(firstPass(() => 0.1, { ...options, maxSize: 8 }).map((c) => c.size)).toEqual([1, 2, 4, 8])
  })

  it("stops growing when timing the next size as often as the others would overrun the budget", () => {
    // 1 ms per row: sizes 1..16 cost 31 ms once, 186 ms with 5 more passes; 32 would need 378 ms
    const done = firstPass((size) => size)
    expect(done.map((c) => c.size)).toEqual([1, 2, 4, 8, 16])
    const spentOnce = done.reduce((n, c) => n + ("ms" in c ? c.ms : 0), 0)
    expect(spentOnce * (1 + options.repetitions)).toBeLessThanOrEqual(options.budgetMs)
  })

  it("keeps growing past a call a busy machine delayed: a size is expected to cost at most twice the one below", () => {
    const ms: Record<number, number> = { 1: 0.1, 2: 0.12, 4: 80, 8: 0.2, 16: 0.3, 32: 0.6, 64: 1.2 }
    expect(firstPass((size) => ms[size]!).map((c) => c.size)).toEqual([1, 2, 4, 8, 16, 32, 64])
  })

  it("tries only size 1 on a model too slow to time twice over within the budget", () => {
    expect(firstPass(() => 120).map((c) => c.size)).toEqual([1])
  })

  it("stops after a call that threw, or a time that is not a positive number", () => {
    expect(firstPass((size) => (size === 16 ? "fail" : 0.2)).map((c) => c.size)).toEqual([1, 2, 4, 8, 16])
    expect(firstPass((size) => (size === 4 ? Number.NaN : 0.2)).map((c) => c.size)).toEqual([1, 2, 4])
  })

  it("tries nothing when maxSize is below 1", () => {
    expect(nextProbeSize([], { ...options, maxSize: 0 })).toBeUndefined()
  })
})

describe("passOrder", () => {
  it("goes up on even passes and down on odd ones", () => {
    expect(passOrder([1, 2, 4], 0)).toEqual([1, 2, 4])
    expect(passOrder([1, 2, 4], 1)).toEqual([4, 2, 1])
    expect(passOrder([1, 2, 4], 2)).toEqual([1, 2, 4])
  })
})

describe("samplesPerSecond", () => {
  it("is the size over its fastest call, ignoring times that are not positive numbers", () => {
    expect(samplesPerSecond({ size: 8, callMs: [4, 2, 9] })).toBe(4000)
    expect(samplesPerSecond({ size: 8, callMs: [0, Number.NaN, -1, 2] })).toBe(4000)
    expect(samplesPerSecond({ size: 8, callMs: [] })).toBe(0)
  })
})

describe("chooseBatchSize", () => {
  it("picks the peak of a curve whose per-sample cost rises past it (a conv model on WASM)", () => {
    // samples/s: 1: 3.3k, 2: 6.2k, 4: 10k, 8: 13.3k, 16: 14.5k, 32: 11k, 64: 5k
    const ms: Record<number, number> = { 1: 0.3, 2: 0.32, 4: 0.4, 8: 0.6, 16: 1.1, 32: 2.9, 64: 12.8 }
    expect(
      chooseBatchSize(
        table((s) => ms[s]!),
        options
      )
    ).toEqual({
      measured: true,
      size: 16,
      samplesPerSecond: 16_000 / 1.1
    })
  })

  it("takes the largest size when every doubling pays (call overhead dominates: a tiny dense model)", () => {
    expect(
      chooseBatchSize(
        table((s) => 0.08 + s * 0.0005),
        options
      )
    ).toMatchObject({ measured: true, size: 64 })
  })

  it("takes 1 when batching only costs (per-sample cost grows with the batch)", () => {
    expect(
      chooseBatchSize(
        table((s) => s * s * 0.1),
        options
      )
    ).toMatchObject({ measured: true, size: 1 })
  })

  it("takes the smallest size within the tolerance of the best: as fast, less waiting", () => {
    // 16: 10,000/s; 32: 10,240/s (2.4 % more); 64: 9,000/s
    const ms: Record<number, number> = { 8: 1, 16: 1.6, 32: 3.125, 64: 64 / 9 }
    const choice = chooseBatchSize(
      table((s) => ms[s]!, [8, 16, 32, 64]),
      options
    )
    expect(choice).toMatchObject({ measured: true, size: 16 })
    expect(
      chooseBatchSize(
        table((s) => ms[s]!, [8, 16, 32, 64]),
        { ...options, tolerance: 0 }
      )
    ).toMatchObject({
      size: 32
    })
  })

  it("breaks an exact tie towards the smaller size", () => {
    expect(
      chooseBatchSize(
        table((s) => s / 10, [4, 8, 16]),
        { ...options, tolerance: 0 }
      )
    ).toMatchObject({
      size: 4
    })
  })

  it("is not moved by calls a busy machine slowed down: each size counts its fastest call", () => {
    const noisy: Array<SizeTimings> = [
      { size: 4, callMs: [0.4, 7.5, 0.41] },
      { size: 8, callMs: [0.6, 0.61, 30] },
      { size: 16, callMs: [12, 1.1, 1.12, 9] },
      { size: 32, callMs: [2.9, 3.5, 2.95] }
    ]
    expect(chooseBatchSize(noisy, options)).toMatchObject({ measured: true, size: 16 })
  })

  it("leaves out sizes whose every call failed", () => {
    const t = [...table((s) => s / 10, [1, 2, 4]), { size: 8, callMs: [] }, { size: 16, callMs: [Number.NaN] }]
    expect(chooseBatchSize(t, { ...options, tolerance: 0 })).toMatchObject({ measured: true, size: 1 })
  })

  it("falls back to the default when fewer than two sizes were timed", () => {
    expect(chooseBatchSize([], options)).toEqual({
      measured: false,
      size: 32,
      reason: "no batch size could be timed"
    })
    expect(
      chooseBatchSize(
        [
          { size: 1, callMs: [90] },
          { size: 2, callMs: [] }
        ],
        options
      )
    ).toEqual({
      measured: false,
      size: 32,
      reason: "only batch size 1 could be timed"
    })
  })

  it("always picks a timed size within the tolerance of the best, and no smaller size is", () => {
    const sizes = [1, 2, 4, 8, 16, 32, 64]
    fc.assert(
      fc.property(
        fc.array(fc.array(fc.double({ min: 0.01, max: 100, noNaN: true }), { minLength: 1, maxLength: 5 }), {
          minLength: 7,
          maxLength: 7
        }),
        fc.double({ min: 0, max: 0.2, noNaN: true }),
        (calls, tolerance) => {
          const t = sizes.map((size, i) => ({ size, callMs: calls[i]! }))
          const choice = chooseBatchSize(t, { ...options, tolerance })
          expect(choice.measured).toBe(true)
          const rates = t.map(samplesPerSecond)
          const best = Math.max(...rates)
          const at = sizes.indexOf(choice.size)
          expect(rates[at]!).toBeGreaterThanOrEqual(best * (1 - tolerance))
          for (let i = 0; i < at; i++) expect(rates[i]!).toBeLessThan(best * (1 - tolerance))
        }
      )
    )
  })
})

describe("probeBlocker", () => {
  const signature = (
    inputs: Array<Array<number | null>>,
    output: Array<number | null> = [null, 3]
  ): ModelSignature => ({
    format: "layers",
    inputs: inputs.map((shape, i) => ({ name: `in${i}`, dtype: "float32", shape })),
    outputs: [{ name: "out", dtype: "float32", shape: output }]
  })

  it("lets a model with a dynamic batch and fixed other dimensions be probed", () => {
    expect(probeBlocker(signature([[null, 28, 28, 1]]), BATCH_PROBE)).toBeUndefined()
  })

  it("gives a model with a fixed batch dimension a limit of 1", () => {
    expect(probeBlocker(signature([[1, 4]]), BATCH_PROBE)).toEqual({ size: 1, reason: "its batch dimension is fixed" })
    expect(probeBlocker(signature([[null, 4]], [1, 3]), BATCH_PROBE)?.size).toBe(1)
  })

  it("gives the default to a model whose cost depends on another dynamic dimension", () => {
    expect(
      probeBlocker(
        signature([
          [null, 4],
          [null, null]
        ]),
        BATCH_PROBE
      )
    ).toEqual({
      size: 32,
      reason: 'input "in1" has a dynamic dimension besides the batch'
    })
  })
})

describe("describeTimings", () => {
  it("lists samples per second by size, and the sizes that failed", () => {
    expect(
      describeTimings([
        { size: 1, callMs: [2] },
        { size: 8, callMs: [0.5] },
        { size: 16, callMs: [] }
      ])
    ).toBe("1: 500/s, 8: 16.0k/s, 16: failed")
  })
})
