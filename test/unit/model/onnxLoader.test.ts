// ONNX models on ONNX Runtime through the one loader: signatures from the session, predict on each
// fixture against its reference, the Iris MLP agreeing with its TF.js twin, what is refused, finiteness.
import { mkdtemp, rm, writeFile } from "node:fs/promises"
import { tmpdir } from "node:os"
import path from "node:path"
import { fileURLToPath } from "node:url"
import { Effect } from "effect"
import * as ort from "onnxruntime-node"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { readIris } from "../../../examples/iris/dataset.js"
import { findNonFinite } from "../../../src/model/finite.js"
import { type LoadedModel, loadModel } from "../../../src/model/loader.js"
import { sessionOptions } from "../../../src/model/onnx/onnxLoader.js"
import { initRuntime } from "../../../src/model/runtime.js"
import { checkInputs } from "../../../src/model/signature.js"
import { BadInput } from "../../../src/protocol/errors.js"
import type { HostTensor } from "../../../src/protocol/tensor.js"
import { writeOnnxModel } from "../../helpers/onnx/builder.js"
import {
  infOnZeroModel,
  linearRegression,
  nanWeightModel,
  SILERO_VAD,
  writeOnnxFixtures
} from "../../helpers/onnx/fixtures.js"

const repo = fileURLToPath(new URL("../../../", import.meta.url))
const irisTfjs = path.join(repo, "examples/iris/model")

let scratch = ""
let dirs: Awaited<ReturnType<typeof writeOnnxFixtures>>
const loaded: Array<LoadedModel> = []
const load = async (dir: string) => {
  const model = await Effect.runPromise(loadModel(dir))
  loaded.push(model)
  return model
}
const loadError = (dir: string) => Effect.runPromise(Effect.flip(loadModel(dir)))
const floats = (shape: Array<number>, values: ArrayLike<number>): HostTensor => ({
  dtype: "float32",
  shape,
  data: Float32Array.from(values)
})

beforeAll(async () => {
  await Effect.runPromise(initRuntime("wasm"))
  scratch = await mkdtemp(path.join(tmpdir(), "modelbus-onnx-loader-"))
  dirs = await writeOnnxFixtures(scratch, irisTfjs)
})

afterAll(async () => {
  for (const model of loaded) model.dispose()
  await rm(scratch, { recursive: true, force: true })
})

describe("ONNX signatures from the session", () => {
  it("names, dtypes and shapes; symbolic dimensions are null, unnamed ones too", async () => {
    expect((await load(dirs.linear)).signature).toEqual({
      format: "onnx",
      inputs: [{ name: "float_input", dtype: "float32", shape: [null, 2] }],
      outputs: [{ name: "variable", dtype: "float32", shape: [null, 1] }]
    })
    expect((await load(dirs.int64)).signature).toEqual({
      format: "onnx",
      inputs: [{ name: "ids", dtype: "int64", shape: [null, 3] }],
      outputs: [
        { name: "next", dtype: "int64", shape: [null, 3] },
        { name: "positive", dtype: "bool", shape: [null, 3] }
      ]
    })
  })

  it("keeps a dimension name two inputs share, so a request that contradicts it is a BadInput", async () => {
    const two = await load(dirs.two)
    expect(two.signature.inputs).toEqual([
      { name: "a", dtype: "float32", shape: [null, 2], symbols: ["batch", null] },
      { name: "b", dtype: "int32", shape: [null, 2], symbols: ["batch", null] }
    ])
    const silero = await load(dirs.silero)
    expect(silero.signature.inputs).toEqual([
      { name: "input", dtype: "float32", shape: [null, null], symbols: ["batch", null] },
      { name: "state", dtype: "float32", shape: [2, null, 128], symbols: [null, "batch", null] },
      { name: "sr", dtype: "int64", shape: [] }
    ])
    const refused = checkInputs(silero.signature, {
      inputs: {
        kind: "named",
        values: {
          input: { kind: "tensor", tensor: floats([1, 512], new Float32Array(512)) },
          state: { kind: "tensor", tensor: floats([2, 3, 128], new Float32Array(768)) },
          sr: { kind: "tensor", tensor: { dtype: "int64", shape: [], data: BigInt64Array.from([16000n]) } }
        }
      }
    })
    expect(refused).toBeInstanceOf(BadInput)
    expect((refused as BadInput).message).toBe(
      'input "state": dimension 1 ("batch") is 3 while input "input" gives "batch" 1 (its dimension 0)'
    )
  })

  it("refuses what modelbus cannot serve, naming the input or output and why", async () => {
    const float64 = await writeOnnxModel(path.join(scratch, "float64"), {
      inputs: [{ name: "x", dtype: "float32", shape: [null, 1] }],
      outputs: [{ name: "y", dtype: "float32", shape: [null, 1] }],
      nodes: [{ op: "Cast", inputs: ["x"], outputs: ["y"], attributes: { to: { int: 11 } } }]
    })
    // the declared output type is float32 but Cast makes it double: ONNX Runtime refuses the graph itself
    expect((await loadError(float64)).message).toContain("ONNX Runtime cannot load")
    const sequence = await writeOnnxModel(path.join(scratch, "sequence"), {
      opsets: { "": 13 },
      inputs: [{ name: "x", dtype: "float32", shape: [null, 1] }],
      outputs: [{ name: "seq", dtype: "float32", shape: [null, 1], sequence: true }],
      nodes: [{ op: "SequenceConstruct", inputs: ["x"], outputs: ["seq"] }]
    })
    expect((await loadError(sequence)).message).toBe(
      `the ONNX model ${sequence} cannot be served: output "seq" is a sequence or map, not a tensor; modelbus serves tensors (a scikit-learn classifier exported with skl2onnx needs options={'zipmap': False})`
    )
    const noOutputs = await writeOnnxModel(path.join(scratch, "no-outputs"), {
      inputs: [{ name: "x", dtype: "float32", shape: [null, 1] }],
      outputs: [],
      nodes: [{ op: "Relu", inputs: ["x"], outputs: ["unused"] }]
    })
    expect((await loadError(noOutputs)).message).toContain("cannot be served: the model has no outputs")
    const garbage = path.join(scratch, "garbage")
    await writeOnnxModel(garbage, linearRegression())
    await writeFile(path.join(garbage, "model.onnx"), "not an onnx model")
    expect((await loadError(garbage)).message).toContain("model.onnx cannot be served")
  })
})

describe("ONNX predict", () => {
  it("LinearRegression y = x·[1, 2] + 3: [[3, 3]] → 12, and a batch of rows at once", async () => {
    const model = await load(dirs.linear)
    const one = await model.predict({ float_input: floats([1, 2], [3, 3]) })
    expect(one.variable!.shape).toEqual([1, 1])
    expect(Array.from(one.variable!.data as Float32Array)).toEqual([12])
    const batch = await model.predict({ float_input: floats([3, 2], [0, 0, 1, 0, 0, 1]) })
    expect(Array.from(batch.variable!.data as Float32Array)).toEqual([3, 4, 5])
  })

  it("the Iris MLP on ONNX Runtime agrees with its TF.js model to 1e-5 on all 150 rows", async () => {
    const onnx = await load(dirs.iris)
    const tfjs = await load(irisTfjs)
    expect(onnx.signature.inputs).toEqual(tfjs.signature.inputs)
    expect(onnx.signature.outputs).toEqual(tfjs.signature.outputs)
    const rows = readIris().measurements
    const batch = { measurements: floats([rows.length, 4], rows.flat()) }
    const a = (await onnx.predict(batch)).species!.data as Float32Array
    const b = (await tfjs.predict(batch)).species!.data as Float32Array
    expect(a.length).toBe(450)
    const worst = Math.max(...Array.from(a, (v, i) => Math.abs(v - b[i]!)))
    console.log(
      `Iris MLP: largest difference between ONNX Runtime and TF.js (wasm) over 150 rows: ${worst.toExponential(2)}`
    )
    expect(worst).toBeLessThanOrEqual(1e-5)
  })

  it("int64 in and out exactly, past 2^53; bool out; only the outputs asked for, in that order", async () => {
    const model = await load(dirs.int64)
    const ids: HostTensor = { dtype: "int64", shape: [1, 3], data: BigInt64Array.from([2n ** 62n, -5n, 0n]) }
    const all = await model.predict({ ids })
    expect(Array.from(all.next!.data as BigInt64Array)).toEqual([2n ** 62n + 1n, -4n, 1n])
    expect(all.positive).toEqual({ dtype: "bool", shape: [1, 3], data: Uint8Array.from([1, 0, 0]) })
    expect(Object.keys(await model.predict({ ids }, ["positive"]))).toEqual(["positive"])
  })

  it("two inputs (float32, int32) and two outputs", async () => {
    const model = await load(dirs.two)
    const out = await model.predict({
      a: floats([2, 2], [0.5, 1, -1, 2]),
      b: { dtype: "int32", shape: [2, 2], data: Int32Array.from([2, 3, 4, 5]) }
    })
    expect(Array.from(out.sum!.data as Float32Array)).toEqual([2.5, 4, 3, 7])
    expect(out.count).toEqual({ dtype: "int32", shape: [2], data: Int32Array.from([5, 9]) })
  })

  it("Silero VAD (a real model from the npm registry) answers as ONNX Runtime does when called directly", async () => {
    const model = await load(dirs.silero)
    const audio = Float32Array.from({ length: 512 }, (_, i) => Math.sin(i / 4) * 0.3)
    const inputs = {
      input: floats([1, 512], audio),
      state: floats([2, 1, 128], new Float32Array(256)),
      sr: { dtype: "int64", shape: [], data: BigInt64Array.from([16000n]) } as HostTensor
    }
    const served = await model.predict(inputs)
    const session = await ort.InferenceSession.create(path.join(repo, SILERO_VAD), sessionOptions({}))
    const direct = await session.run({
      input: new ort.Tensor("float32", audio, [1, 512]),
      state: new ort.Tensor("float32", new Float32Array(256), [2, 1, 128]),
      sr: new ort.Tensor("int64", BigInt64Array.from([16000n]), [])
    })
    await session.release()
    expect(Array.from(served.output!.data as Float32Array)).toEqual(Array.from(direct.output!.data as Float32Array))
    expect(Array.from(served.stateN!.data as Float32Array)).toEqual(Array.from(direct.stateN!.data as Float32Array))
    const p = (served.output!.data as Float32Array)[0]!
    expect(p).toBeGreaterThanOrEqual(0)
    expect(p).toBeLessThanOrEqual(1)
  })

  it("a call the runtime refuses rejects with its message (the actor answers InferenceFailed)", async () => {
    const model = await load(dirs.silero)
    await expect(
      model.predict({
        input: floats([1, 1], [0]),
        state: floats([2, 1, 128], new Float32Array(256)),
        sr: { dtype: "int64", shape: [], data: BigInt64Array.from([16000n]) }
      })
    ).rejects.toThrow(/Pad/)
  })
})

describe("ONNX finiteness", () => {
  it("names a NaN weight, and an output that is infinite on a zero probe batch", async () => {
    const nan = await load(await writeOnnxModel(path.join(scratch, "nan"), nanWeightModel()))
    expect(await findNonFinite(nan)).toBe("weight W holds 1 non-finite value of 2 (first NaN at index 1)")
    const inf = await load(await writeOnnxModel(path.join(scratch, "inf"), infOnZeroModel()))
    expect(await findNonFinite(inf)).toBe(
      "output y holds 2 non-finite values of 2 (first Infinity at index 0) on a zero probe batch"
    )
    expect(await findNonFinite(await load(dirs.iris))).toBeUndefined()
  })

  it("a model that refuses a probe of length 1 in a dynamic inner dimension has its weights checked only", async () => {
    expect(await findNonFinite(await load(dirs.silero))).toBeUndefined()
  })

  it("a served model keeps no second copy of finite weights", async () => {
    expect((await load(dirs.iris)).weights()).toEqual([])
  })
})

describe("one session per model, threads from the options", () => {
  it("defaults to one intra-op thread, sequential, and lets pool threads sleep when given more", () => {
    expect(sessionOptions({})).toMatchObject({
      intraOpNumThreads: 1,
      interOpNumThreads: 1,
      executionMode: "sequential"
    })
    expect(sessionOptions({ intraOpNumThreads: 4 })).toMatchObject({
      intraOpNumThreads: 4,
      extra: { session: { intra_op: { allow_spinning: "0" } } }
    })
  })

  it("an int64 model and a model with threads load and answer", async () => {
    const model = await Effect.runPromise(loadModel(dirs.int64, {}, { intraOpNumThreads: 2 }))
    loaded.push(model)
    const out = await model.predict({ ids: { dtype: "int64", shape: [1, 3], data: BigInt64Array.from([1n, 2n, 3n]) } })
    expect(Array.from(out.next!.data as BigInt64Array)).toEqual([2n, 3n, 4n])
  })
})
