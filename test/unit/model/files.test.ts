// Model folders on disk: saving ModelArtifacts as model.json + weights.bin, and loading
// them back, including weights split across several files.
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises"
import { tmpdir } from "node:os"
import path from "node:path"
import * as tf from "@tensorflow/tfjs-core"
import * as tfl from "@tensorflow/tfjs-layers"
import { Effect } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { folderLoadHandler, folderSaveHandler, readModelJson, readWeights } from "../../../src/model/files.js"
import { initRuntime } from "../../../src/model/runtime.js"

let scratch = ""

beforeAll(async () => {
  await Effect.runPromise(initRuntime("wasm"))
  scratch = await mkdtemp(path.join(tmpdir(), "modelbus-files-"))
})

afterAll(async () => {
  await rm(scratch, { recursive: true, force: true })
})

const smallModel = (): tfl.LayersModel => {
  const x = tfl.input({ shape: [3], name: "x" })
  const dense = tfl.layers.dense({ units: 2, name: "y" })
  const y = dense.apply(x) as tfl.SymbolicTensor
  dense.setWeights([
    tf.tensor2d([
      [1, 2],
      [3, 4],
      [5, 6]
    ]),
    tf.tensor1d([0.5, -0.5])
  ])
  return tfl.model({ inputs: x, outputs: y })
}

describe("folderSaveHandler + folderLoadHandler", () => {
  it("writes model.json and weights.bin, and loads the same model back", async () => {
    const folder = path.join(scratch, "round-trip")
    const model = smallModel()
    await model.save(folderSaveHandler(folder))
    const json = JSON.parse(await readFile(path.join(folder, "model.json"), "utf8"))
    expect(json.format).toBe("layers-model")
    expect(json.weightsManifest).toEqual([
      {
        paths: ["weights.bin"],
        weights: [
          { name: "y/kernel", shape: [3, 2], dtype: "float32" },
          { name: "y/bias", shape: [2], dtype: "float32" }
        ]
      }
    ])
    expect((await readFile(path.join(folder, "weights.bin"))).byteLength).toBe(8 * 4)

    const loaded = await tfl.loadLayersModel(folderLoadHandler(folder))
    const input = tf.tensor2d([[1, 1, 1]])
    expect(Array.from(await (loaded.predict(input) as tf.Tensor).data())).toEqual([9.5, 11.5])
    model.dispose()
    loaded.dispose()
    input.dispose()
  })

  it("concatenates weights listed across several groups and files, in manifest order", async () => {
    const folder = path.join(scratch, "sharded")
    const model = smallModel()
    await model.save(folderSaveHandler(folder))
    const json = JSON.parse(await readFile(path.join(folder, "model.json"), "utf8"))
    const bytes = await readFile(path.join(folder, "weights.bin"))
    await writeFile(path.join(folder, "kernel-1.bin"), bytes.subarray(0, 10))
    await writeFile(path.join(folder, "kernel-2.bin"), bytes.subarray(10, 24))
    await writeFile(path.join(folder, "bias.bin"), bytes.subarray(24))
    const [kernel, bias] = json.weightsManifest[0].weights
    json.weightsManifest = [
      { paths: ["kernel-1.bin", "kernel-2.bin"], weights: [kernel] },
      { paths: ["bias.bin"], weights: [bias] }
    ]
    await writeFile(path.join(folder, "model.json"), JSON.stringify(json))
    await rm(path.join(folder, "weights.bin"))

    const [specs, data] = await readWeights(folder, json.weightsManifest)
    expect(specs.map((s) => s.name)).toEqual(["y/kernel", "y/bias"])
    expect(new Uint8Array(data)).toEqual(new Uint8Array(bytes))

    const loaded = await tfl.loadLayersModel(folderLoadHandler(folder))
    const weights = await Promise.all(loaded.getWeights().map((w) => w.data()))
    expect(weights.map((w) => Array.from(w))).toEqual([
      [1, 2, 3, 4, 5, 6],
      [0.5, -0.5]
    ])
    model.dispose()
    loaded.dispose()
  })
})

describe("readModelJson", () => {
  it("names the path and the problem", async () => {
    const missing = path.join(scratch, "nope")
    await expect(readModelJson(missing)).rejects.toThrow(`no model folder at ${missing}`)
    const empty = path.join(scratch, "empty")
    await writeFile(path.join(scratch, "a-file"), "x")
    await expect(readModelJson(path.join(scratch, "a-file"))).rejects.toThrow("is not a folder")
    await mkdir(empty)
    await expect(readModelJson(empty)).rejects.toThrow(`no model.json (TF.js) or model.onnx (ONNX) in ${empty}`)
    await writeFile(path.join(empty, "model.json"), "{ not json")
    await expect(readModelJson(empty)).rejects.toThrow(`${path.join(empty, "model.json")} is not valid JSON`)
    await writeFile(path.join(empty, "model.json"), JSON.stringify({ weightsManifest: [] }))
    await expect(readModelJson(empty)).rejects.toThrow("has no modelTopology")
  })
})
