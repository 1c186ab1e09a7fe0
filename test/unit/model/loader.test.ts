// Loading real model folders (Layers and Graph) on the WASM backend: signatures, outputs
// against in-process tfjs, Layers/Graph agreement, tensor hygiene and load failures.
import { cp, mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises"
import { tmpdir } from "node:os"
import path from "node:path"
import { fileURLToPath } from "node:url"
import * as tf from "@tensorflow/tfjs-core"
import * as tfl from "@tensorflow/tfjs-layers"
import { Effect } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { readIris } from "../../../examples/iris/dataset.js"
import { ModelLoadFailed } from "../../../src/model/errors.js"
import { folderLoadHandler, folderSaveHandler } from "../../../src/model/files.js"
import { type LoadedModel, loadModel } from "../../../src/model/loader.js"
import { initRuntime } from "../../../src/model/runtime.js"
import type { HostTensor } from "../../../src/protocol/tensor.js"

const repo = fileURLToPath(new URL("../../../", import.meta.url))
const irisLayers = path.join(repo, "examples/iris/model")
const irisGraph = path.join(repo, "test/fixtures/iris-graph")
const twoInputs = path.join(repo, "test/fixtures/two-inputs")
const intInput = path.join(repo, "test/fixtures/int-input")

const load = (dir: string) => Effect.runPromise(loadModel(dir))
const loadError = (dir: string) =>
  Effect.runPromise(Effect.flip(loadModel(dir))).then((error) => error as ModelLoadFailed)

const iris = readIris()
const irisBatch: HostTensor = {
  dtype: "float32",
  shape: [iris.measurements.length, 4],
  data: Float32Array.from(iris.measurements.flat())
}

const float32 = (shape: Array<number>, values: Array<number>): HostTensor => ({
  dtype: "float32",
  shape,
  data: Float32Array.from(values)
})

const expectClose = (actual: ArrayLike<number>, expected: ArrayLike<number>, tolerance: number) => {
  expect(actual.length).toBe(expected.length)
  let worst = 0
  for (let i = 0; i < actual.length; i++) worst = Math.max(worst, Math.abs(actual[i]! - expected[i]!))
  expect(worst).toBeLessThanOrEqual(tolerance)
}

let scratch = ""
const opened: Array<LoadedModel> = []
const keep = (model: LoadedModel) => {
  opened.push(model)
  return model
}

beforeAll(async () => {
  const runtime = await Effect.runPromise(initRuntime("wasm"))
  expect(runtime.backend).toBe("wasm")
  scratch = await mkdtemp(path.join(tmpdir(), "modelbus-loader-"))
})

afterAll(async () => {
  for (const model of opened) model.dispose()
  await rm(scratch, { recursive: true, force: true })
})

describe("signatures", () => {
  it("Iris Layers: input named after its InputLayer, output after its last layer", async () => {
    const model = keep(await load(irisLayers))
    expect(model.signature).toEqual({
      format: "layers",
      inputs: [{ name: "measurements", dtype: "float32", shape: [null, 4] }],
      outputs: [{ name: "species", dtype: "float32", shape: [null, 3] }]
    })
  })

  it("Iris Graph: names from the signature, -1 dims as null", async () => {
    const model = keep(await load(irisGraph))
    expect(model.signature).toEqual({
      format: "graph",
      inputs: [{ name: "measurements", dtype: "float32", shape: [null, 4] }],
      outputs: [{ name: "species", dtype: "float32", shape: [null, 3] }]
    })
  })

  it("two named inputs, in model order", async () => {
    const model = keep(await load(twoInputs))
    expect(model.signature).toEqual({
      format: "layers",
      inputs: [
        { name: "a", dtype: "float32", shape: [null, 3] },
        { name: "b", dtype: "float32", shape: [null, 2] }
      ],
      outputs: [{ name: "scores", dtype: "float32", shape: [null, 2] }]
    })
  })

  it("an int32 input", async () => {
    const model = keep(await load(intInput))
    expect(model.signature).toEqual({
      format: "layers",
      inputs: [{ name: "tokens", dtype: "int32", shape: [null, 4] }],
      outputs: [{ name: "score", dtype: "float32", shape: [null, 1] }]
    })
  })

  it("a Graph without a signature: node names, output dtype and shape from a probe run", async () => {
    const folder = path.join(scratch, "graph-no-signature")
    await cp(irisGraph, folder, { recursive: true })
    const json = JSON.parse(await readFile(path.join(folder, "model.json"), "utf8"))
    delete json.signature
    delete json.format
    await writeFile(path.join(folder, "model.json"), JSON.stringify(json))
    const model = keep(await load(folder))
    expect(model.signature).toEqual({
      format: "graph",
      inputs: [{ name: "measurements", dtype: "float32", shape: [null, 4] }],
      outputs: [{ name: "species", dtype: "float32", shape: [null, 3] }]
    })
  })
})

describe("predict", () => {
  it("Iris Layers and Graph agree within 1e-5 on all 150 flowers", async () => {
    const layers = keep(await load(irisLayers))
    const graph = keep(await load(irisGraph))
    const fromLayers = (await layers.predict({ measurements: irisBatch })).species!
    const fromGraph = (await graph.predict({ measurements: irisBatch })).species!
    expect(fromLayers.shape).toEqual([150, 3])
    expect(fromGraph.shape).toEqual([150, 3])
    expect(fromGraph.dtype).toBe("float32")
    expectClose(fromGraph.data as Float32Array, fromLayers.data as Float32Array, 1e-5)
  })

  it("classifies the Iris data well (the saved model takes raw cm)", async () => {
    const model = keep(await load(irisLayers))
    const { data } = (await model.predict({ measurements: irisBatch })).species!
    let correct = 0
    iris.species.forEach((label, row) => {
      const scores = Array.from((data as Float32Array).subarray(row * 3, row * 3 + 3))
      if (scores.indexOf(Math.max(...scores)) === label) correct++
    })
    expect(correct / 150).toBeGreaterThan(0.9)
  })

  it("equals in-process tfjs on the same input (Layers: iris, two inputs, int32 input)", async () => {
    const cases: Array<[string, Record<string, HostTensor>, () => tf.Tensor | Array<tf.Tensor>]> = [
      [
        irisLayers,
        { measurements: irisBatch },
        () => tf.tensor2d(Array.from(irisBatch.data as Float32Array), [150, 4])
      ],
      [
        twoInputs,
        { a: float32([2, 3], [1, 2, 3, -1, 0, 1]), b: float32([2, 2], [0.5, 0.25, 2, -2]) },
        () => [tf.tensor2d([1, 2, 3, -1, 0, 1], [2, 3]), tf.tensor2d([0.5, 0.25, 2, -2], [2, 2])]
      ],
      [
        intInput,
        { tokens: { dtype: "int32", shape: [3, 4], data: Int32Array.from([0, 1, 2, 3, 9, 8, 7, 6, 5, 5, 5, 5]) } },
        () => tf.tensor2d([0, 1, 2, 3, 9, 8, 7, 6, 5, 5, 5, 5], [3, 4], "int32")
      ]
    ]
    for (const [dir, inputs, reference] of cases) {
      const model = keep(await load(dir))
      const outputName = model.signature.outputs[0]!.name
      const actual = (await model.predict(inputs))[outputName]!
      const direct = await tfl.loadLayersModel(folderLoadHandler(dir))
      const x = reference()
      const y = direct.predict(x) as tf.Tensor
      expect(actual.shape).toEqual(y.shape)
      expect(actual.dtype).toBe(y.dtype)
      expect(Array.from(actual.data as Float32Array)).toEqual(Array.from(await y.data()))
      tf.dispose([x, y])
      direct.dispose()
    }
  })

  it("returns only the requested outputs, in the requested order", async () => {
    const x = tfl.input({ shape: [2], name: "x" })
    const first = tfl.layers
      .dense({ units: 1, name: "first", kernelInitializer: "ones" })
      .apply(x) as tfl.SymbolicTensor
    const second = tfl.layers
      .dense({ units: 2, name: "second", kernelInitializer: "zeros", biasInitializer: "ones" })
      .apply(x) as tfl.SymbolicTensor
    const source = tfl.model({ inputs: x, outputs: [first, second] })
    const folder = path.join(scratch, "two-outputs")
    await source.save(folderSaveHandler(folder))
    source.dispose()

    const model = keep(await load(folder))
    expect(model.signature.outputs.map((o) => o.name)).toEqual(["first", "second"])
    const input = { x: float32([1, 2], [3, 4]) }
    const all = await model.predict(input)
    expect(Object.keys(all)).toEqual(["first", "second"])
    expect(Array.from(all.first!.data as Float32Array)).toEqual([7])
    const reversed = await model.predict(input, ["second", "first"])
    expect(Object.keys(reversed)).toEqual(["second", "first"])
    expect(Array.from(reversed.second!.data as Float32Array)).toEqual([1, 1])
    const only = await model.predict(input, ["second"])
    expect(Object.keys(only)).toEqual(["second"])
  })

  it("leaves no tensor behind: 100 predicts keep tf.memory().numTensors at the baseline", async () => {
    for (const dir of [irisLayers, irisGraph, twoInputs, intInput]) {
      const model = keep(await load(dir))
      const inputs: Record<string, HostTensor> = {}
      for (const spec of model.signature.inputs) {
        const shape = spec.shape.map((d) => d ?? 8)
        const size = shape.reduce((a, b) => a * b, 1)
        inputs[spec.name] =
          spec.dtype === "int32"
            ? { dtype: "int32", shape, data: Int32Array.from({ length: size }, (_, i) => i % 10) }
            : { dtype: "float32", shape, data: Float32Array.from({ length: size }, (_, i) => i / size) }
      }
      await model.predict(inputs) // first run may compile and cache kernels
      const baseline = tf.memory().numTensors
      for (let i = 0; i < 100; i++) {
        await model.predict(inputs)
        expect(tf.memory().numTensors).toBe(baseline)
      }
    }
  })

  it("runs a Graph with a dynamic-shape op through executeAsync (bool in, int32 out)", async () => {
    const folder = path.join(scratch, "graph-where")
    await mkdir(folder)
    await writeFile(
      path.join(folder, "model.json"),
      JSON.stringify({
        format: "graph-model",
        modelTopology: {
          node: [
            {
              name: "flags",
              op: "Placeholder",
              attr: { dtype: { type: "DT_BOOL" }, shape: { shape: { dim: [{ size: "-1" }] } } }
            },
            { name: "positions", op: "Where", input: ["flags"], attr: { T: { type: "DT_BOOL" } } }
          ],
          versions: { producer: 1395 }
        },
        weightsManifest: []
      })
    )
    const model = keep(await load(folder))
    expect(model.signature).toEqual({
      format: "graph",
      inputs: [{ name: "flags", dtype: "bool", shape: [null] }],
      outputs: [{ name: "positions", dtype: "int32", shape: [null, 1] }]
    })
    const baseline = tf.memory().numTensors
    const { positions } = await model.predict({
      flags: { dtype: "bool", shape: [5], data: Uint8Array.from([1, 0, 1, 1, 0]) }
    })
    expect(positions).toEqual({ dtype: "int32", shape: [3, 1], data: Int32Array.from([0, 2, 3]) })
    expect(tf.memory().numTensors).toBe(baseline)
  })

  it("rejects with the runtime's Error when tfjs throws, and still disposes its inputs", async () => {
    const model = keep(await load(irisLayers))
    const baseline = tf.memory().numTensors
    await expect(model.predict({ measurements: float32([1, 5], [1, 2, 3, 4, 5]) })).rejects.toThrow(Error)
    expect(tf.memory().numTensors).toBe(baseline)
    const graph = keep(await load(irisGraph))
    const graphBaseline = tf.memory().numTensors
    await expect(graph.predict({ measurements: float32([1, 5], [1, 2, 3, 4, 5]) })).rejects.toThrow(Error)
    expect(tf.memory().numTensors).toBe(graphBaseline)
  })
})

describe("load failures", () => {
  it("a missing folder is ModelLoadFailed naming the path", async () => {
    const dir = path.join(scratch, "no-such-model")
    const error = await loadError(dir)
    expect(error).toBeInstanceOf(ModelLoadFailed)
    expect(error._tag).toBe("ModelLoadFailed")
    expect(error.path).toBe(dir)
    expect(error.message).toContain(dir)
  })

  it("a folder without model.json, bad JSON, an unknown format and missing weights each say so", async () => {
    const dir = path.join(scratch, "broken")
    await mkdir(dir)
    expect((await loadError(dir)).message).toBe(`no model.json (TF.js) or model.onnx (ONNX) in ${dir}`)

    await writeFile(path.join(dir, "model.json"), '{"modelTopology": ')
    expect((await loadError(dir)).message).toContain(`${path.join(dir, "model.json")} is not valid JSON`)

    await writeFile(path.join(dir, "model.json"), JSON.stringify({ modelTopology: { hello: 1 }, weightsManifest: [] }))
    expect((await loadError(dir)).message).toContain("is neither a Layers model")

    await writeFile(path.join(dir, "model.json"), await readFile(path.join(irisLayers, "model.json")))
    const missing = await loadError(dir)
    expect(missing.path).toBe(dir)
    expect(missing.message).toContain(`weight file ${path.join(dir, "weights.bin")}`)
    expect(missing.message).toContain("is missing")
  })
})
