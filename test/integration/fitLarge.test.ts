// `fit` with training data larger than one NATS message: 21 MB of Iris rows go through the Object Store
// (the request names the object), a replica trains on them and publishes the next version, and the object is
// deleted once the fit answered.
import { mkdtemp, writeFile } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Objm } from "@nats-io/obj"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { encodeNpy } from "../../src/datasets/npy.js"
import { IRIS_MODEL, irisRows, runCli } from "../helpers/processes.js"
import { type Stack, startStack } from "../helpers/stack.js"

let stack: Stack

beforeAll(async () => {
  stack = await startStack({ models: [{ name: "learner", path: IRIS_MODEL, replicas: 1 }] })
}, 120_000)

afterAll(async () => {
  await stack?.stop()
})

describe("fit with data larger than a message", () => {
  it("trains on 21 MB of rows sent through the Object Store and serves the new version", async () => {
    const iris = await irisRows()
    const rows = 750_000
    const x = new Float32Array(rows * 4)
    const y = new Float32Array(rows * 3)
    for (let i = 0; i < rows; i++) {
      const r = iris[i % iris.length]!
      x.set(r, i * 4)
      // every row labelled virginica: a fit that moves the predictions
      y[i * 3 + 2] = 1
    }
    const bytes = x.byteLength + y.byteLength
    expect(bytes).toBeGreaterThan(20 * 1024 * 1024)
    expect(bytes).toBeGreaterThan(stack.raw.info!.max_payload * 20)
    let uploaded = 0
    const started = performance.now()
    const result = await stack.client.updateModel(
      "learner",
      {
        fit: {
          x: { dtype: "float32", shape: [rows, 4], data: x },
          y: { dtype: "float32", shape: [rows, 3], data: y },
          epochs: 1,
          batchSize: 4096,
          learningRate: 0.05
        }
      },
      {
        timeoutMs: 240_000,
        onProgress: (sent) => {
          uploaded = sent
        }
      }
    )
    expect(result.version).toBe(2)
    expect(result.loss).toHaveLength(1)
    expect(uploaded).toBeGreaterThan(20 * 1024 * 1024)
    const reply = await stack.client.infer("learner", [iris[0]!])
    expect(reply.version).toBe(2)
    const objects = await (await new Objm(stack.raw).open("modelbus_artifacts")).list()
    expect(objects.filter((o) => o.name.startsWith("fit/") && !o.deleted)).toEqual([])
    console.log(
      `fit on ${(bytes / 1024 / 1024).toFixed(1)} MiB (${rows} rows) through the Object Store: v${result.version}, loss ${result.loss![0]!.toFixed(4)}, ${((performance.now() - started) / 1000).toFixed(1)} s`
    )
  }, 300_000)

  it("update --fit takes x and y as .npy files named in the JSON file (4.8 MB, through the Object Store)", async () => {
    const iris = await irisRows()
    const rows = 200_000
    const x = new Float32Array(rows * 4)
    const y = new Float32Array(rows * 3)
    for (let i = 0; i < rows; i++) {
      x.set(iris[i % iris.length]!, i * 4)
      y[i * 3] = 1
    }
    const dir = await mkdtemp(join(tmpdir(), "modelbus-fit-npy-"))
    await writeFile(join(dir, "x.npy"), encodeNpy({ dtype: "float32", shape: [rows, 4], data: x }))
    await writeFile(join(dir, "y.npy"), encodeNpy({ dtype: "float32", shape: [rows, 3], data: y }))
    await writeFile(join(dir, "train.json"), JSON.stringify({ x: "x.npy", y: "y.npy", epochs: 1, batchSize: 4096 }))
    const run = await runCli([
      "update",
      "learner",
      "--fit",
      join(dir, "train.json"),
      "--json",
      "--server",
      stack.nats.url
    ])
    expect(run.code, run.output).toBe(0)
    expect(JSON.parse(run.output.slice(run.output.indexOf("{")))).toMatchObject({ model: "learner", version: 3 })
  }, 300_000)
})
