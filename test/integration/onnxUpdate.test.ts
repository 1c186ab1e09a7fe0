// Switching runtimes by update: a TF.js model's replicas swap to its ONNX twin and back (rollback) in
// place under load with no failed request; ONNX versions go through the same checks (finite, signature).
import { mkdtemp } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { type HostTensor, IncompatibleSignature, ModelNotFinite } from "../../src/client/index.js"
import { writeOnnxModel } from "../helpers/onnx/builder.js"
import { denseTwinOf, infOnZeroModel, linearRegression, nanWeightModel } from "../helpers/onnx/fixtures.js"
import { IRIS_MODEL, irisRows } from "../helpers/processes.js"
import { type Stack, startStack } from "../helpers/stack.js"

let stack: Stack
let scratch = ""
let rows: Array<Array<number>>
let expected: Array<Float32Array>

const TOLERANCE = 1e-5

/** Calls back to back from `concurrency` workers; any error or answer off the TF.js one by more than TOLERANCE counts. */
const startLoad = (concurrency = 12) => {
  let running = true
  const summary = { requests: 0, failures: [] as Array<unknown>, wrong: 0, versions: new Set<number>() }
  const worker = async (offset: number) => {
    for (let i = offset; running; i += concurrency) {
      const k = i % rows.length
      try {
        const reply = await stack.client.infer("iris", [rows[k]!])
        const got = (reply.outputs as HostTensor).data as Float32Array
        summary.versions.add(reply.version)
        if (got.length !== 3 || got.some((v, j) => Math.abs(v - expected[k]![j]!) > TOLERANCE)) summary.wrong++
      } catch (error) {
        summary.failures.push(error)
      }
      summary.requests++
    }
  }
  const workers = Array.from({ length: concurrency }, (_, i) => worker(i))
  return {
    summary,
    stop: async () => {
      running = false
      await Promise.all(workers)
      return summary
    }
  }
}

const irisActors = async () => (await stack.client.status()).flatMap((s) => s.actors).filter((a) => a.model === "iris")

beforeAll(async () => {
  scratch = await mkdtemp(join(tmpdir(), "modelbus-onnx-update-"))
  stack = await startStack({ models: [{ name: "iris", path: IRIS_MODEL, replicas: 2 }] })
  rows = (await irisRows()).slice(0, 40)
  expected = await Promise.all(
    rows.map(async (row) => ((await stack.client.infer("iris", [row])).outputs as HostTensor).data as Float32Array)
  )
}, 120_000)

afterAll(async () => {
  expect((await stack?.stop())?.code).toBe(0)
})

describe("TF.js → ONNX → TF.js by update and rollback", () => {
  it("swaps runtime in place on every replica under load: 0 failed requests, answers within 1e-5", async () => {
    const onnxDir = await writeOnnxModel(join(scratch, "iris-onnx"), await denseTwinOf(IRIS_MODEL))
    const before = await irisActors()
    expect((await stack.client.describe("iris")).format).toBe("layers")
    const load = startLoad()
    const toOnnx = await stack.client.updateModel("iris", { path: onnxDir })
    expect(toOnnx.version).toBe(2)
    expect(toOnnx.acked).toHaveLength(2)
    expect(await stack.client.describe("iris")).toMatchObject({ format: "onnx", backend: "onnxruntime", version: 2 })
    // answers from the ONNX version before rolling back (the replicas serve it from their acknowledgement on)
    while (!load.summary.versions.has(2)) await new Promise((r) => setTimeout(r, 20))
    const midway = load.summary.requests
    const back = await stack.client.rollbackModel("iris", 1)
    expect(back.version).toBe(3)
    expect(back.acked).toHaveLength(2)
    expect((await stack.client.describe("iris")).format).toBe("layers")
    // keep the load on a little past the rollback, so requests are answered on both sides of each swap
    const target = load.summary.requests + 200
    while (load.summary.requests < target) await new Promise((r) => setTimeout(r, 20))
    const summary = await load.stop()
    const after = await irisActors()
    console.log(
      `TF.js → ONNX → TF.js under load: ${summary.requests} requests (${midway} before the rollback), ` +
        `${summary.failures.length} failed, ${summary.wrong} off by more than ${TOLERANCE}; versions answered: ${[...summary.versions].join(", ")}; ` +
        `rollouts ${toOnnx.rolloutMs} ms and ${back.rolloutMs} ms`
    )
    expect(summary.failures).toEqual([])
    expect(summary.wrong).toBe(0)
    expect([...summary.versions].sort()).toEqual([1, 2, 3])
    expect(after.map((a) => a.pid).sort()).toEqual(before.map((a) => a.pid).sort())
    expect(after.map((a) => a.loads)).toEqual([3, 3])
    const [listed] = (await stack.client.listModels()).filter((m) => m.model === "iris")
    expect(listed!.current).toMatchObject({ version: 3, format: "layers", source: "rollback:1" })
    expect((await stack.client.modelHistory("iris")).map((v) => v.format)).toEqual(
      expect.arrayContaining(["layers", "onnx"])
    )
  })

  it("an ONNX version with a NaN weight, or infinite outputs on a zero probe, is refused as ModelNotFinite", async () => {
    const nan = await writeOnnxModel(join(scratch, "nan"), nanWeightModel())
    await expect(stack.client.updateModel("iris", { path: nan })).rejects.toBeInstanceOf(ModelNotFinite)
    const inf = await writeOnnxModel(join(scratch, "inf"), infOnZeroModel())
    const refused = await stack.client.updateModel("iris", { path: inf }).catch((e: unknown) => e)
    expect(refused).toBeInstanceOf(ModelNotFinite)
    expect((refused as ModelNotFinite).message).toContain("output y holds 2 non-finite values of 2")
  })

  it("an ONNX version whose signature differs is IncompatibleSignature unless forced", async () => {
    const linear = await writeOnnxModel(join(scratch, "linear"), linearRegression())
    const refused = await stack.client.updateModel("iris", { path: linear }).catch((e: unknown) => e)
    expect(refused).toBeInstanceOf(IncompatibleSignature)
    expect((refused as IncompatibleSignature).message).toContain("float_input float32[?,2]")
    const [listed] = (await stack.client.listModels()).filter((m) => m.model === "iris")
    expect(listed!.current.version).toBe(3)
  })
})
