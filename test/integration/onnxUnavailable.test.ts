// When onnxruntime-node cannot load (simulated: its import fails in the supervisor's processes), an ONNX
// model fails at start with one line naming the cause, while TF.js models serve and keep serving.
import { mkdtemp } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { startLocalNatsServer } from "../../src/cli/natsServer.js"
import { type Client, connect, type HostTensor, UpdateFailed } from "../../src/client/index.js"
import { writeOnnxModel } from "../helpers/onnx/builder.js"
import { denseTwinOf } from "../helpers/onnx/fixtures.js"
import { IRIS_MODEL, ROOT, spawnCli, writeConfig } from "../helpers/processes.js"

const UNAVAILABLE = { NODE_OPTIONS: `--import ${join(ROOT, "test/helpers/onnxUnavailable.mjs")}` }

let nats: Awaited<ReturnType<typeof startLocalNatsServer>>
let onnxDir = ""

beforeAll(async () => {
  nats = await startLocalNatsServer()
  onnxDir = await writeOnnxModel(
    join(await mkdtemp(join(tmpdir(), "modelbus-onnx-unavailable-")), "iris"),
    await denseTwinOf(IRIS_MODEL)
  )
})

afterAll(async () => {
  await nats?.stop()
})

const supervise = async (models: ReadonlyArray<object>) =>
  spawnCli(["supervise", "--config", await writeConfig({ models }), "--server", nats.url], UNAVAILABLE)

describe("onnxruntime-node cannot load", () => {
  it("serving an ONNX model fails at start with one line naming the cause", async () => {
    const supervisor = await supervise([{ name: "broken", path: onnxDir }])
    const exit = await supervisor.exited
    expect(exit.code).toBe(1)
    const failure = supervisor
      .output()
      .split("\n")
      .filter((line) => line.startsWith("modelbus: "))
    console.log(`supervise with ONNX Runtime unavailable: exit ${exit.code}, ${failure[0]}`)
    expect(failure).toHaveLength(1)
    expect(failure[0]).toContain("ONNX Runtime (onnxruntime-node) cannot load on")
    expect(failure[0]).toContain("Cannot find module '../bin/napi-v6/linux/riscv64/onnxruntime_binding.node'")
    expect(failure[0]).not.toContain("Require stack")
  })

  it("TF.js models serve, and a replica refuses an update to ONNX and keeps serving TF.js", async () => {
    const supervisor = await supervise([{ name: "iris", path: IRIS_MODEL, replicas: 2 }])
    await supervisor.waitForLine(/modelbus ready/, 60_000)
    let client: Client | undefined
    try {
      client = await connect({ servers: nats.url })
      const before = (await client.infer("iris", [[5.1, 3.5, 1.4, 0.2]])).outputs as HostTensor
      // this test process has ONNX Runtime, so the publish (which loads and checks the model) succeeds
      const refused = await client
        .updateModel("iris", { path: onnxDir }, { timeoutMs: 30_000 })
        .catch((e: unknown) => e)
      expect(refused).toBeInstanceOf(UpdateFailed)
      expect((refused as UpdateFailed).message).toContain("ONNX Runtime (onnxruntime-node) cannot load on")
      const after = await client.infer("iris", [[5.1, 3.5, 1.4, 0.2]])
      expect(after.version).toBe(1)
      expect(Array.from((after.outputs as HostTensor).data as Float32Array)).toEqual(
        Array.from(before.data as Float32Array)
      )
      expect((await client.describe("iris")).format).toBe("layers")
    } finally {
      await client?.close()
      expect((await supervisor.stop()).code).toBe(0)
    }
  })
})
