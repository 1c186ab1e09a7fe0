// Serving end to end: a real nats-server, a real supervisor process with actor processes, real
// TF.js models from disk; plain-NATS JSON callers, the Effect and Promise clients, bad inputs.
import { join } from "node:path"
import { headers, type NatsConnection } from "@nats-io/transport-node"
import { Effect } from "effect"
import { Packr } from "msgpackr"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import type { LocalNatsServer } from "../../src/cli/natsServer.js"
import {
  BadInput,
  type Client,
  type HostTensor,
  type InferInputs,
  ModelClient,
  NoResponders
} from "../../src/client/index.js"
import { loadModel } from "../../src/model/loader.js"
import { initRuntime } from "../../src/model/runtime.js"
import { isStandby } from "../../src/protocol/messages.js"
import { eventually, FIXTURES, IRIS_MODEL, irisRows } from "../helpers/processes.js"
import { type Stack, startStack } from "../helpers/stack.js"

const config = {
  models: [
    { name: "iris", path: IRIS_MODEL, replicas: 2 },
    { name: "iris-graph", path: join(FIXTURES, "iris-graph"), replicas: 1 },
    { name: "two-inputs", path: join(FIXTURES, "two-inputs"), replicas: 1 },
    { name: "tokens", path: join(FIXTURES, "int-input"), replicas: 1 }
  ]
}

const jsonHeaders = () => {
  const h = headers()
  h.set("Content-Type", "application/json")
  return h
}

let stack: Stack
let nats: LocalNatsServer
let client: Client
let raw: NatsConnection

beforeAll(async () => {
  stack = await startStack(config)
  nats = stack.nats
  client = stack.client
  raw = stack.raw
})

afterAll(async () => {
  expect((await stack?.stop())?.code).toBe(0)
})

const statusOf = async (model: string) =>
  (await client.status()).flatMap((s) => s.actors).filter((a) => a.model === model)

describe("a plain NATS client with JSON and no modelbus code", () => {
  for (const model of ["iris", "iris-graph"]) {
    it(`gets the wire protocol's reply shape from the ${model === "iris" ? "Layers" : "Graph"} model`, async () => {
      const body = JSON.stringify({
        inputs: [
          [5.1, 3.5, 1.4, 0.2],
          [6.7, 3.0, 5.2, 2.3]
        ]
      })
      const msg = await raw.request(`modelbus.infer.${model}`, body, { timeout: 10_000, headers: jsonHeaders() })
      expect(msg.headers?.get("Content-Type")).toBe("application/json")
      expect(msg.headers?.get("Nats-Service-Error-Code") ?? "").toBe("")
      const reply = JSON.parse(msg.string())
      expect(Object.keys(reply).sort()).toEqual(["actor", "model", "outputs", "version"])
      expect(reply.model).toBe(model)
      expect(reply.version).toBe(1)
      expect(reply.actor).toMatch(new RegExp(`^${model}-\\d+@`))
      expect(reply.outputs.dtype).toBe("float32")
      expect(reply.outputs.shape).toEqual([2, 3])
      expect(reply.outputs.data).toHaveLength(6)
      const [setosa, virginica] = [reply.outputs.data.slice(0, 3), reply.outputs.data.slice(3)]
      expect(setosa.indexOf(Math.max(...setosa))).toBe(0)
      expect(virginica.indexOf(Math.max(...virginica))).toBe(2)
    })

    it(`gets the wire protocol's error shape from the ${model === "iris" ? "Layers" : "Graph"} model`, async () => {
      const body = JSON.stringify({ inputs: { dtype: "float32", shape: [1, 3], data: [1, 2, 3] } })
      const msg = await raw.request(`modelbus.infer.${model}`, body, { timeout: 10_000, headers: jsonHeaders() })
      expect(msg.headers?.get("Nats-Service-Error-Code")).toBe("400")
      expect(msg.headers?.get("Nats-Service-Error")).toMatch(/expected shape \[\?, 4\], received \[1, 3\]/)
      const reply = JSON.parse(msg.string())
      expect(reply.error._tag).toBe("BadInput")
      expect(reply.error.message).toMatch(/measurements/)
    })
  }
})

describe("the Effect and Promise clients (msgpack)", () => {
  it("answers the 150 Iris rows exactly as in-process TF.js does, for Layers and Graph", async () => {
    const rows = await irisRows()
    const expected = await Effect.runPromise(
      Effect.gen(function* () {
        yield* initRuntime("wasm")
        const model = yield* loadModel(IRIS_MODEL)
        const out = yield* Effect.promise(() =>
          model.predict({
            measurements: { dtype: "float32", shape: [rows.length, 4], data: Float32Array.from(rows.flat()) }
          })
        )
        model.dispose()
        return out
      })
    )
    const want = Object.values(expected)[0]!
    for (const model of ["iris", "iris-graph"]) {
      const reply = await client.infer(model, rows)
      const got = reply.outputs as HostTensor
      expect(got.shape).toEqual([150, 3])
      expect(got.data).toBeInstanceOf(Float32Array)
      const worst = Math.max(
        ...Array.from(got.data as Float32Array, (v, i) => Math.abs(v - (want.data as Float32Array)[i]!))
      )
      expect(worst).toBeLessThan(model === "iris" ? 1e-7 : 1e-5)
    }
  })

  it("round-trips float32 and int32 tensors as raw bytes, and a multi-input map", async () => {
    const f = await client.infer("iris", {
      dtype: "float32",
      shape: [1, 4],
      data: new Float32Array([5.9, 3.0, 5.1, 1.8])
    })
    expect((f.outputs as HostTensor).dtype).toBe("float32")
    const i = await client.infer("tokens", {
      dtype: "int32",
      shape: [2, 4],
      data: new Int32Array([1, 2, 3, 4, 9, 8, 7, 6])
    })
    expect((i.outputs as HostTensor).shape).toEqual([2, 1])
    const nested = await client.infer("tokens", [
      [1, 2, 3, 4],
      [9, 8, 7, 6]
    ])
    expect(Array.from((nested.outputs as HostTensor).data as Float32Array)).toEqual(
      Array.from((i.outputs as HostTensor).data as Float32Array)
    )
    const two = await client.infer("two-inputs", {
      a: [[1, 2, 3]],
      b: { dtype: "float32", shape: [1, 2], data: [4, 5] }
    })
    expect((two.outputs as HostTensor).shape).toEqual([1, 2])
  })

  it("runs inferMany in parallel through the Effect ModelClient layer", async () => {
    const rows = (await irisRows()).slice(0, 40)
    const replies = await Effect.runPromise(
      Effect.gen(function* () {
        const mc = yield* ModelClient
        return yield* mc.inferMany(
          "iris",
          rows.map((r) => [r])
        )
      }).pipe(Effect.provide(ModelClient.layer({ servers: nats.url })))
    )
    expect(replies).toHaveLength(40)
    expect(new Set(replies.map((r) => r.actor)).size).toBe(2)
  })

  it("fails with NoResponders for a model nobody serves", async () => {
    await expect(client.infer("nobody", [[1]])).rejects.toBeInstanceOf(NoResponders)
  })
})

const deeplyNested = (depth: number): unknown => {
  let value: unknown = 1
  for (let i = 0; i < depth; i++) value = [value]
  return value
}

/** A valid request for each model of the bad-input table, and the output shape it gets. */
const validCall: Record<string, { inputs: InferInputs; shape: ReadonlyArray<number> }> = {
  iris: { inputs: [[5.1, 3.5, 1.4, 0.2]], shape: [1, 3] },
  "two-inputs": { inputs: { a: [[1, 2, 3]], b: [[4, 5]] }, shape: [1, 2] },
  tokens: { inputs: [[1, 2, 3, 4]], shape: [1, 1] }
}

describe("bad input", () => {
  const packr = new Packr({ useRecords: false })
  const cases: Array<[string, string, () => Promise<unknown>, RegExp]> = [
    ["wrong shape", "iris", () => client.infer("iris", [[1, 2, 3]]), /expected shape \[\?, 4\], received \[1, 3\]/],
    [
      "wrong dtype",
      "iris",
      () => client.infer("iris", { dtype: "int32", shape: [1, 4], data: [1, 2, 3, 4] }),
      /expected dtype float32, received int32/
    ],
    [
      "an unknown input name",
      "two-inputs",
      () => client.infer("two-inputs", { a: [[1, 2, 3]], b: [[1, 2]], c: [[1]] }),
      /unknown input "c"/
    ],
    ["a missing input name", "two-inputs", () => client.infer("two-inputs", { a: [[1, 2, 3]] }), /missing input "b"/],
    [
      "nesting deeper than any tensor",
      "iris",
      () => client.infer("iris", JSON.parse(`${"[".repeat(9)}1${"]".repeat(9)}`)),
      /nesting deeper than 8/
    ],
    [
      "inputs the client cannot even encode",
      "iris",
      () => client.infer("iris", deeplyNested(100_000) as never),
      /cannot encode the inputs/
    ],
    [
      "a ragged nesting",
      "iris",
      () =>
        client.infer("iris", [
          [1, 2, 3, 4],
          [1, 2]
        ]),
      /ragged/
    ],
    [
      "a non-integer for an int32 input",
      "tokens",
      () => client.infer("tokens", [[1, 2, 3.5, 4]]),
      /expected int32 values/
    ]
  ]
  for (const [what, model, call, message] of cases) {
    it(`answers ${what} with a typed 400 BadInput`, async () => {
      const error = await call().then(
        () => undefined,
        (e: unknown) => e
      )
      expect(error).toBeInstanceOf(BadInput)
      expect((error as BadInput).message).toMatch(message)
      // the model the bad call went to still answers a valid one, itself
      const { inputs, shape } = validCall[model]!
      const reply = await client.infer(model, inputs)
      expect(reply.model).toBe(model)
      expect((reply.outputs as HostTensor).shape).toEqual(shape)
    })
  }

  const deepMsgpack = new Uint8Array(100_001).fill(0x91)
  deepMsgpack[100_000] = 0x01
  const rawCases: Array<[string, Uint8Array, RegExp, boolean?]> = [
    [
      "JSON nested 100,000 levels deep",
      new TextEncoder().encode(`{"inputs":${"[".repeat(100_000)}1${"]".repeat(100_000)}}`),
      /nested deeper than 64 levels|nesting deeper than 8|not valid JSON/,
      true
    ],
    [
      "msgpack nested 100,000 levels deep",
      Uint8Array.from([0x81, 0xa6, ...new TextEncoder().encode("inputs"), ...deepMsgpack]),
      /nesting deeper than 8|not valid msgpack/
    ],
    ["garbage bytes", Uint8Array.from([0xc1, 0xff, 0x00, 0x13, 0x37]), /not valid msgpack|expected a body/],
    ["an empty body", new Uint8Array(0), /empty body/],
    ["a body with no inputs", packr.pack({ input: [[1, 2, 3, 4]] }), /expected a body \{"inputs"/]
  ]
  for (const [what, body, message, json] of rawCases) {
    it(`answers ${what} with a typed 400 BadInput`, async () => {
      const msg = await raw.request(
        "modelbus.infer.iris",
        body,
        json ? { timeout: 10_000, headers: jsonHeaders() } : { timeout: 10_000 }
      )
      expect(msg.headers?.get("Nats-Service-Error-Code")).toBe("400")
      const reply = json ? JSON.parse(msg.string()) : packr.unpack(msg.data)
      expect(reply.error._tag).toBe("BadInput")
      expect(reply.error.message).toMatch(message)
    })
  }

  it("keeps every actor serving after all of them: no restarts, same pids", async () => {
    const before = await statusOf("iris")
    const ok = await client.inferMany("iris", [
      [[5.1, 3.5, 1.4, 0.2]],
      [[6.7, 3.0, 5.2, 2.3]],
      [[5.9, 3.0, 4.2, 1.5]],
      [[6.3, 2.9, 5.6, 1.8]]
    ])
    expect(ok).toHaveLength(4)
    const all = (await client.status()).flatMap((s) => s.actors)
    // the supervisor's standby (no model) neither restarted nor took a slot
    expect(all.every((a) => a.restarts === 0 && (a.state === "serving" || isStandby(a)))).toBe(true)
    expect((await statusOf("iris")).map((a) => a.pid)).toEqual(before.map((a) => a.pid))
  })
})

describe("load once, serve many", () => {
  it("serves 1,000 requests with one load per actor and no tensor growth", async () => {
    const rows = await irisRows()
    const heartbeatAfter = async (minServed: number) =>
      eventually(
        async () => {
          const actors = await statusOf("iris")
          return actors.reduce((n, a) => n + a.served, 0) >= minServed ? actors : undefined
        },
        10_000,
        `iris actors to report ${minServed} served`
      )
    const start = await heartbeatAfter(0)
    const servedBefore = start.reduce((n, a) => n + a.served, 0)
    for (let batch = 0; batch < 10; batch++) {
      const replies = await client.inferMany(
        "iris",
        Array.from({ length: 100 }, (_, i) => [rows[(batch * 100 + i) % rows.length]!])
      )
      expect(replies).toHaveLength(100)
    }
    const after = await heartbeatAfter(servedBefore + 1000)
    for (const actor of after) {
      expect(actor.loads).toBe(1)
      expect(actor.restarts).toBe(0)
      expect(actor.tensors).toBe(start.find((a) => a.id === actor.id)!.tensors)
      expect(actor.tensors).toBeGreaterThan(0)
    }
    expect(after.every((a) => a.served > 0)).toBe(true)
  })
})
