// The finiteness check a version passes before it goes live: which weight or warm-up output holds
// NaN or ±Infinity, where first and how many, on fake models whose weights and outputs the test sets.
import { describe, expect, it } from "vitest"
import { describeNonFinite, findNonFinite, nonFiniteValues } from "../../../src/model/finite.js"
import type { LoadedModel, ModelWeight } from "../../../src/model/loader.js"
import type { HostTensor } from "../../../src/protocol/tensor.js"

const weight = (name: string, values: ArrayLike<number>, dtype = "float32"): ModelWeight => ({
  name,
  dtype,
  values: async () => values
})

/** A model `x: float32[?, 2] → y` with these weights, answering `output` (and recording its probe input). */
const model = (weights: ReadonlyArray<ModelWeight>, output: HostTensor) => {
  const probes: Array<Readonly<Record<string, HostTensor>>> = []
  const loaded: LoadedModel = {
    signature: {
      format: "layers",
      inputs: [{ name: "x", dtype: "float32", shape: [null, 2] }],
      outputs: [{ name: "y", dtype: output.dtype, shape: [null, output.shape[1] ?? 1] }]
    },
    weights: () => weights,
    predict: async (inputs) => {
      probes.push(inputs)
      return { y: output }
    },
    dispose: () => {}
  }
  return { loaded, probes }
}

const floats = (...values: Array<number>): HostTensor => ({
  dtype: "float32",
  shape: [1, values.length],
  data: new Float32Array(values)
})

describe("nonFiniteValues / describeNonFinite", () => {
  it("find the first NaN or ±Infinity and count them all", () => {
    expect(nonFiniteValues([1, 2, 3])).toBeUndefined()
    expect(nonFiniteValues([1, Number.NEGATIVE_INFINITY, Number.NaN])).toEqual({
      index: 1,
      value: Number.NEGATIVE_INFINITY,
      count: 2
    })
    expect(describeNonFinite("weight dense/bias", new Float32Array([0, Number.NaN, 1]))).toBe(
      "weight dense/bias holds 1 non-finite value of 3 (first NaN at index 1)"
    )
    expect(describeNonFinite("output y", [Number.POSITIVE_INFINITY, Number.POSITIVE_INFINITY])).toBe(
      "output y holds 2 non-finite values of 2 (first Infinity at index 0)"
    )
  })
})

describe("findNonFinite", () => {
  it("names the first float weight that is not finite, before running the model", async () => {
    const m = model(
      [weight("dense/kernel", [1, 2]), weight("dense/bias", [0, Number.NaN]), weight("other", [Number.NaN])],
      floats(1)
    )
    expect(await findNonFinite(m.loaded)).toBe("weight dense/bias holds 1 non-finite value of 2 (first NaN at index 1)")
    expect(m.probes).toEqual([])
  })

  it("names a float output that is not finite on a zero probe batch of one row", async () => {
    const m = model([weight("dense/bias", [3e38])], floats(0.5, Number.POSITIVE_INFINITY))
    expect(await findNonFinite(m.loaded)).toBe(
      "output y holds 1 non-finite value of 2 (first Infinity at index 1) on a zero probe batch"
    )
    expect(m.probes).toHaveLength(1)
    expect(m.probes[0]!.x!.shape).toEqual([1, 2])
    expect(Array.from(m.probes[0]!.x!.data as Float32Array)).toEqual([0, 0])
  })

  it("passes finite weights and outputs, and skips non-float ones", async () => {
    const ints: HostTensor = { dtype: "int32", shape: [1, 1], data: new Int32Array([7]) }
    const m = model([weight("table", [1, 2], "int32"), weight("dense/kernel", new Float32Array([0.5]))], ints)
    expect(await findNonFinite(m.loaded)).toBeUndefined()
    expect(await findNonFinite(model([], floats(0, -1, 3e38)).loaded)).toBeUndefined()
  })

  it("rejects when the model throws on the probe", async () => {
    const m = model([], floats(1))
    const failing: LoadedModel = { ...m.loaded, predict: () => Promise.reject(new Error("no kernel for op")) }
    await expect(findNonFinite(failing)).rejects.toThrow("no kernel for op")
  })
})
