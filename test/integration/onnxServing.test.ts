// ONNX models served end to end: a supervisor serving the fixtures (LinearRegression as skl2onnx writes it,
// the Iris MLP's ONNX twin, int64, two-in/two-out, Silero VAD from npm) over NATS in JSON and msgpack,
// bad inputs answered exactly as the TF.js twin answers them, describe, and `update --fit` refused.
import { mkdtemp, writeFile } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { headers as natsHeaders } from "@nats-io/transport-node"
import { Effect } from "effect"
import { Packr } from "msgpackr"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import type { HostTensor } from "../../src/client/index.js"
import { loadModel } from "../../src/model/loader.js"
import { decodeReply } from "../../src/protocol/codec.js"
import { writeOnnxFixtures } from "../helpers/onnx/fixtures.js"
import { IRIS_MODEL, irisRows, runCli } from "../helpers/processes.js"
import { type Stack, startStack } from "../helpers/stack.js"

let stack: Stack
let dirs: Awaited<ReturnType<typeof writeOnnxFixtures>>
const packr = new Packr({ useRecords: false, mapsAsObjects: true, moreTypes: false })
const utf8 = new TextEncoder()
const jsonHeaders = () => {
  const h = natsHeaders()
  h.set("Content-Type", "application/json")
  return h
}

/** One raw request (no modelbus client): the reply's error code ("" on success) and its decoded body. */
const ask = async (model: string, body: unknown, encoding: "json" | "msgpack") => {
  const data = encoding === "json" ? utf8.encode(JSON.stringify(body)) : packr.pack(body)
  const msg = await stack.raw.request(`modelbus.infer.${model}`, data, {
    timeout: 20_000,
    ...(encoding === "json" ? { headers: jsonHeaders() } : {})
  })
  return {
    code: msg.headers?.get("Nats-Service-Error-Code") ?? "",
    header: msg.headers?.get("Nats-Service-Error") ?? "",
    raw: new TextDecoder().decode(msg.data),
    decoded: decodeReply(msg.data, encoding)
  }
}

const outputsOf = (reply: Awaited<ReturnType<typeof ask>>) => {
  if (reply.decoded.kind !== "reply") throw new Error(`${reply.code}: ${reply.raw.slice(0, 300)}`)
  return reply.decoded.reply.outputs
}

beforeAll(async () => {
  dirs = await writeOnnxFixtures(await mkdtemp(join(tmpdir(), "modelbus-onnx-serving-")), IRIS_MODEL)
  stack = await startStack({
    models: [
      { name: "iris", path: IRIS_MODEL },
      { name: "iris-onnx", path: dirs.iris, onnx: { intraOpNumThreads: 1 } },
      { name: "linear", path: dirs.linear },
      { name: "ids", path: dirs.int64 },
      { name: "two", path: dirs.two },
      { name: "vad", path: dirs.silero }
    ]
  })
}, 120_000)

afterAll(async () => {
  expect((await stack?.stop())?.code).toBe(0)
})

describe("ONNX models over NATS", () => {
  it("LinearRegression y = x·[1, 2] + 3: [[3, 3]] → 12 in JSON and msgpack", async () => {
    const json = await ask("linear", { inputs: [[3, 3]] }, "json")
    expect(json.raw).toContain('"outputs":{"dtype":"float32","shape":[1,1],"data":[12]}')
    expect(json.raw).toContain('"model":"linear","version":1')
    const msgpack = outputsOf(
      await ask("linear", { inputs: { dtype: "float32", shape: [2, 2], data: [3, 3, 0, 0] } }, "msgpack")
    ) as HostTensor
    expect(Array.from(msgpack.data as Float32Array)).toEqual([12, 3])
  })

  it("the Iris MLP's ONNX twin answers the 150 rows as its TF.js model does (to 1e-5), in both encodings", async () => {
    const rows = await irisRows()
    let worst = 0
    for (const [i, row] of rows.entries()) {
      const encoding = i % 2 === 0 ? "json" : "msgpack"
      const onnx = outputsOf(await ask("iris-onnx", { inputs: [row] }, encoding)) as HostTensor
      const tfjs = outputsOf(await ask("iris", { inputs: [row] }, encoding)) as HostTensor
      const a = onnx.data as Float32Array
      const b = tfjs.data as Float32Array
      for (let j = 0; j < 3; j++) worst = Math.max(worst, Math.abs(a[j]! - b[j]!))
    }
    console.log(`Iris over NATS: largest difference ONNX Runtime vs TF.js over 150 rows: ${worst.toExponential(2)}`)
    expect(worst).toBeLessThanOrEqual(1e-5)
  })

  it("int64 in and out: exact in msgpack bins past 2^53, numbers in JSON, bool outputs", async () => {
    const ids = new BigInt64Array([2n ** 62n, -7n, 0n])
    const bin = new Uint8Array(ids.buffer)
    const msgpack = outputsOf(await ask("ids", { inputs: { dtype: "int64", shape: [1, 3], data: bin } }, "msgpack"))
    const named = msgpack as Record<string, HostTensor>
    expect(Array.from(named.next!.data as BigInt64Array)).toEqual([2n ** 62n + 1n, -6n, 1n])
    expect(named.positive!.dtype).toBe("bool")
    expect(Array.from(named.positive!.data as Uint8Array)).toEqual([1, 0, 0])
    const json = await ask("ids", { inputs: [[1, -2, 9007199254740991]] }, "json")
    expect(json.raw).toContain('"next":{"dtype":"int64","shape":[1,3],"data":[2,-1,9007199254740992]}')
    expect(json.raw).toContain('"positive":{"dtype":"bool","shape":[1,3],"data":[1,0,1]}')
    const client = await stack.client.infer("ids", { dtype: "int64", shape: [1, 3], data: ids }, { outputs: ["next"] })
    expect(Array.from((client.outputs as Record<string, HostTensor>).next!.data as BigInt64Array)).toEqual([
      2n ** 62n + 1n,
      -6n,
      1n
    ])
  })

  it("int64 past 2^53 as a JSON number is a BadInput saying how to send it", async () => {
    const reply = await ask("ids", { inputs: { dtype: "int64", shape: [1, 3], data: [1, 2, 2 ** 60] } }, "json")
    expect(reply.code).toBe("400")
    expect(reply.header).toContain("expected an int64 value within ±(2^53 − 1) when given as numbers")
  })

  it("two inputs and two outputs, by name, in JSON and msgpack", async () => {
    const body = { inputs: { a: [[0.5, 1]], b: { dtype: "int32", shape: [1, 2], data: [2, 3] } } }
    for (const encoding of ["json", "msgpack"] as const) {
      const out = outputsOf(await ask("two", body, encoding)) as Record<string, HostTensor>
      expect(Array.from(out.sum!.data as Float32Array)).toEqual([2.5, 4])
      expect(Array.from(out.count!.data as Int32Array)).toEqual([5])
    }
  })

  it("Silero VAD from the npm registry: the served answer is what ONNX Runtime computes in process", async () => {
    const audio = Float32Array.from({ length: 512 }, (_, i) => Math.sin(i / 3) * 0.4)
    const inputs = {
      input: { dtype: "float32" as const, shape: [1, 512], data: audio },
      state: { dtype: "float32" as const, shape: [2, 1, 128], data: new Float32Array(256) },
      sr: { dtype: "int64" as const, shape: [], data: BigInt64Array.from([16000n]) }
    }
    const reference = await Effect.runPromise(loadModel(dirs.silero))
    const want = await reference.predict(inputs)
    reference.dispose()
    const served = (await stack.client.infer("vad", inputs)).outputs as Record<string, HostTensor>
    expect(Array.from(served.output!.data as Float32Array)).toEqual(Array.from(want.output!.data as Float32Array))
    expect(Array.from(served.stateN!.data as Float32Array)).toEqual(Array.from(want.stateN!.data as Float32Array))
    const json = await ask(
      "vad",
      {
        inputs: {
          input: [Array.from(audio)],
          state: { dtype: "float32", shape: [2, 1, 128], data: new Array(256).fill(0) },
          sr: 16000
        }
      },
      "json"
    )
    expect(json.code).toBe("")
    const refused = await ask(
      "vad",
      {
        inputs: {
          input: [Array.from(audio)],
          state: { dtype: "float32", shape: [2, 2, 128], data: new Array(512).fill(0) },
          sr: 16000
        }
      },
      "json"
    )
    expect(refused.code).toBe("400")
    expect(refused.header).toContain('input "state": dimension 1 ("batch") is 2 while input "input" gives "batch" 1')
  })

  it("bad inputs get the same typed 400s, word for word, as the TF.js model with the same signature", async () => {
    const bad: ReadonlyArray<unknown> = [
      { inputs: [[1, 2, 3]] },
      { inputs: { dtype: "int32", shape: [1, 4], data: [1, 2, 3, 4] } },
      { inputs: { dtype: "int64", shape: [1, 4], data: [1, 2, 3, 4] } },
      { inputs: { dtype: "float32", shape: [1, 4], data: [1, 2, 3] } },
      { inputs: { wrong: [[1, 2, 3, 4]] } },
      { inputs: { measurements: [[1, 2, 3, 4]], extra: [[1]] } },
      { inputs: [[1, 2, 3, 4]], outputs: ["nope"] },
      { inputs: [[[1, 2, 3, 4]]] },
      { inputs: [[1, 2, "x", 4]] },
      { inputs: {} },
      { nothing: true },
      { inputs: [[1, 2, 3, 4]], timeoutMs: -5 }
    ]
    for (const body of bad) {
      for (const encoding of ["json", "msgpack"] as const) {
        const tfjs = await ask("iris", body, encoding)
        const onnx = await ask("iris-onnx", body, encoding)
        expect(tfjs.code, JSON.stringify(body)).toBe("400")
        expect({ code: onnx.code, header: onnx.header }).toEqual({ code: tfjs.code, header: tfjs.header })
        if (onnx.decoded.kind !== "error" || tfjs.decoded.kind !== "error") throw new Error("not an error reply")
        expect(onnx.decoded.error).toEqual(tfjs.decoded.error)
      }
    }
  })

  it("describe says onnx on onnxruntime, with the signature from the session", async () => {
    const meta = await stack.client.describe("ids")
    expect(meta).toMatchObject({
      name: "ids",
      format: "onnx",
      backend: "onnxruntime",
      inputs: [{ name: "ids", dtype: "int64", shape: [null, 3] }]
    })
    const [listed] = (await stack.client.listModels()).filter((m) => m.model === "linear")
    expect(listed!.current.format).toBe("onnx")
  })

  it("update --fit on an ONNX model is a one-line NotSupported", async () => {
    const file = join(await mkdtemp(join(tmpdir(), "modelbus-fit-")), "fit.json")
    await writeFile(file, JSON.stringify({ x: [[1, 2]], y: [[3]], epochs: 1 }))
    const result = await runCli(["update", "linear", "--fit", file, "--server", stack.nats.url])
    expect(result.code).toBe(1)
    const lines = result.output.trim().split("\n")
    expect(lines).toHaveLength(1)
    expect(lines[0]).toMatch(/^modelbus: NotSupported: linear v1 is an ONNX model; fit trains TF.js Layers models only/)
  })
})
