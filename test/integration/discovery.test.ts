// NATS micro discovery and model metadata on a real nats-server with real actors: one $SRV answer per
// live actor (ADR-32 shapes, read by nats.js's service client too), STATS moving with traffic, INFO
// following an update; `describe` from the clients and `modelbus models describe` with its failures.
import { copyFile, mkdtemp, readFile, writeFile } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import type { NatsConnection } from "@nats-io/transport-node"
import { Effect, Schema } from "effect"
import { connect as connectNatsV2, RequestStrategy } from "nats"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { BadReply, type Client, ModelClient, NotFound, Timeout } from "../../src/client/index.js"
import { gather } from "../../src/nats/gather.js"
import { InfoResponse, PingResponse, StatsResponse } from "../../src/protocol/micro.js"
import { FIXTURES, IRIS_MODEL, irisRows, runCli } from "../helpers/processes.js"
import { type Stack, startStack } from "../helpers/stack.js"

const config = {
  models: [
    { name: "iris", path: IRIS_MODEL, replicas: 2 },
    { name: "tokens", path: join(FIXTURES, "int-input"), replicas: 1 }
  ]
}
const IRIS_SIGNATURE = {
  inputs: [{ name: "measurements", dtype: "float32", shape: [null, 4] }],
  outputs: [{ name: "species", dtype: "float32", shape: [null, 3] }]
}

let stack: Stack
let client: Client
let raw: NatsConnection

beforeAll(async () => {
  // every request counted exactly once: no hedged second copies
  stack = await startStack(config, { hedge: false })
  client = stack.client
  raw = stack.raw
})

afterAll(async () => {
  expect((await stack?.stop())?.code).toBe(0)
})

/**
 * Every JSON answer to one request on `subject`: those that come until none has for 300 ms (at most
 * 5 s). Proving that no further actor answers takes that quiet gap; nothing else here waits for time.
 */
const ask = async (subject: string): Promise<Array<unknown>> =>
  (await gather(raw, subject, new Uint8Array(0), { strategy: "stall", stall: 300, maxWait: 5_000 })).map((m) =>
    JSON.parse(m.string())
  )

const liveActors = async () =>
  (await client.status())
    .flatMap((s) => s.actors)
    .filter((a) => a.state === "serving")
    .map((a) => a.id)
    .sort()

const decodePing = Schema.decodeUnknownSync(PingResponse)
const decodeInfo = Schema.decodeUnknownSync(InfoResponse)
const decodeStats = Schema.decodeUnknownSync(StatsResponse)

const irisStats = async () => {
  const answers = (await ask("$SRV.STATS.modelbus-iris")).map((a) => decodeStats(a).endpoints[0]!)
  expect(answers).toHaveLength(2)
  return answers
}

const sum = (values: ReadonlyArray<number>) => values.reduce((a, b) => a + b, 0)

/** A copy of the Iris model with weights scaled by `factor`: same signature, a new digest. */
const irisVariant = async (factor: number): Promise<string> => {
  const dir = await mkdtemp(join(tmpdir(), "modelbus-variant-"))
  await copyFile(join(IRIS_MODEL, "model.json"), join(dir, "model.json"))
  const weights = new Float32Array(new Uint8Array(await readFile(join(IRIS_MODEL, "weights.bin"))).buffer)
  await writeFile(join(dir, "weights.bin"), new Uint8Array(weights.map((w) => w * factor).buffer))
  return dir
}

describe("NATS micro discovery ($SRV, ADR-32)", () => {
  it("$SRV.PING: one ping_response per live actor, each a distinct instance of its model's service", async () => {
    const pings = (await ask("$SRV.PING")).map((a) => decodePing(a))
    const actors = await liveActors()
    expect(actors).toHaveLength(3)
    expect(pings.map((p) => p.metadata?.actor).sort()).toEqual(actors)
    for (const p of pings) {
      expect(p.type).toBe("io.nats.micro.v1.ping_response")
      expect(p.name).toBe(`modelbus-${p.metadata?.model}`)
      expect(p.version).toBe("1.0.0")
    }
    expect(new Set(pings.map((p) => p.id)).size).toBe(3)
  })

  it("$SRV.INFO lists the infer endpoint with its queue group, signature and metadata; .<name> and .<name>.<id> narrow it", async () => {
    const infos = (await ask("$SRV.INFO")).map((a) => decodeInfo(a))
    expect(infos).toHaveLength(3)
    const iris = infos.filter((i) => i.name === "modelbus-iris")
    expect(iris).toHaveLength(2)
    for (const info of iris) {
      expect(info.type).toBe("io.nats.micro.v1.info_response")
      expect(info.metadata).toMatchObject({
        model: "iris",
        model_version: "1",
        model_format: "layers",
        backend: "wasm",
        prefix: "modelbus"
      })
      expect(info.metadata?.actor).toMatch(/^iris-\d+@/)
      expect(info.metadata?.actor).toBe(`${info.metadata?.actor?.split("@")[0]}@${info.metadata?.supervisor}`)
      expect(info.endpoints).toHaveLength(1)
      const [endpoint] = info.endpoints
      expect(endpoint).toMatchObject({ name: "infer", subject: "modelbus.infer.iris", queue_group: "modelbus.iris" })
      expect(JSON.parse(endpoint!.metadata!.inputs!)).toEqual(IRIS_SIGNATURE.inputs)
      expect(JSON.parse(endpoint!.metadata!.outputs!)).toEqual(IRIS_SIGNATURE.outputs)
    }

    const named = (await ask("$SRV.INFO.modelbus-iris")).map((a) => decodeInfo(a))
    expect(named.map((i) => i.id).sort()).toEqual(iris.map((i) => i.id).sort())
    const one = iris[0]!
    const instance = (await ask(`$SRV.INFO.modelbus-iris.${one.id}`)).map((a) => decodeInfo(a))
    expect(instance).toEqual([one])
    expect(await ask(`$SRV.PING.modelbus-tokens.${one.id}`)).toEqual([])
    expect((await ask("$SRV.STATS.modelbus-tokens")).map((s) => decodeStats(s).endpoints[0]!.subject)).toEqual([
      "modelbus.infer.tokens"
    ])
  })

  it("$SRV.STATS: num_requests up by N after N requests, errors and last_error counted, processing time in ns", async () => {
    const before = await irisStats()
    const rows = (await irisRows()).slice(0, 20)
    await client.inferMany(
      "iris",
      rows.map((row) => [row])
    )
    const refused = await client.infer("iris", [[1, 2, 3]]).catch((e: unknown) => e)
    expect(refused).toMatchObject({ _tag: "BadInput" })
    const after = await irisStats()
    expect(sum(after.map((e) => e.num_requests)) - sum(before.map((e) => e.num_requests))).toBe(21)
    expect(sum(after.map((e) => e.num_errors)) - sum(before.map((e) => e.num_errors))).toBe(1)
    expect(after.map((e) => e.last_error)).toContainEqual(expect.stringMatching(/^400 BadInput: input "measurements"/))
    for (const e of after) {
      expect(e).toMatchObject({ name: "infer", subject: "modelbus.infer.iris", queue_group: "modelbus.iris" })
      if (e.num_requests > 0) {
        expect(e.processing_time).toBeGreaterThan(0)
        expect(e.average_processing_time).toBe(Math.round(e.processing_time / e.num_requests))
        // nanoseconds: an answer takes more than 1 µs (how long it takes depends on the machine: printed)
        expect(e.average_processing_time).toBeGreaterThan(1_000)
        console.log(
          `${e.name} endpoint: ${e.num_requests} requests, average ${(e.average_processing_time / 1e6).toFixed(2)} ms`
        )
      }
    }
  })

  it("nats.js's service client reads the same answers (ping, info, stats)", async () => {
    const nc = await connectNatsV2({ servers: stack.nats.url })
    try {
      // Count: done as soon as both replicas have answered
      const services = nc.services.client({ strategy: RequestStrategy.Count, maxMessages: 2, maxWait: 5_000 })
      const collect = async <T>(answers: AsyncIterable<T>) => {
        const all: Array<T> = []
        for await (const a of answers) all.push(a)
        return all
      }
      const pings = await collect(await services.ping("modelbus-iris"))
      const infos = await collect(await services.info("modelbus-iris"))
      const stats = await collect(await services.stats("modelbus-iris"))
      expect(pings.map((p) => p.name)).toEqual(["modelbus-iris", "modelbus-iris"])
      expect(infos.flatMap((i) => i.endpoints.map((e) => [e.subject, e.queue_group]))).toEqual([
        ["modelbus.infer.iris", "modelbus.iris"],
        ["modelbus.infer.iris", "modelbus.iris"]
      ])
      expect(stats.every((s) => typeof s.endpoints?.[0]?.num_requests === "number")).toBe(true)
    } finally {
      await nc.close()
    }
  })
})

describe("model metadata (describe)", () => {
  it("the Promise client gets the inputs and outputs with dtypes and shapes, version, format and backend", async () => {
    const meta = await client.describe("iris")
    expect(meta).toMatchObject({ name: "iris", version: 1, format: "layers", backend: "wasm", ...IRIS_SIGNATURE })
    expect(await liveActors()).toContain(meta.actor)
    expect(meta.actor.endsWith(`@${meta.supervisor}`)).toBe(true)
    expect(await client.describe("tokens")).toMatchObject({
      name: "tokens",
      inputs: [{ dtype: "int32" }]
    })
  })

  it("the Effect client: NotFound when nobody serves the model, Timeout when nobody answers, BadReply for junk", async () => {
    const silent = raw.subscribe("modelbus.describe.silent")
    const junk = raw.subscribe("modelbus.describe.junk", { callback: (_, msg) => void msg.respond('{"name": 7}') })
    await raw.flush()
    try {
      const outcomes = await Effect.runPromise(
        Effect.gen(function* () {
          const c = yield* ModelClient
          return {
            served: yield* c.describe("iris"),
            nobody: yield* Effect.flip(c.describe("nobody")),
            silent: yield* Effect.flip(c.describe("silent", { timeoutMs: 300 })),
            junk: yield* Effect.flip(c.describe("junk"))
          }
        }).pipe(Effect.provide(ModelClient.layer({ servers: stack.nats.url })))
      )
      expect(outcomes.served.name).toBe("iris")
      expect(outcomes.nobody).toBeInstanceOf(NotFound)
      expect(outcomes.nobody).toMatchObject({ target: "nobody" })
      expect(outcomes.nobody.message).toContain("modelbus.describe.nobody")
      expect(outcomes.silent).toBeInstanceOf(Timeout)
      expect(outcomes.junk).toBeInstanceOf(BadReply)
      expect(outcomes.junk.message).toMatch(/metadata\.name/)
    } finally {
      silent.unsubscribe()
      junk.unsubscribe()
    }
  })

  it("modelbus models describe prints a table, --json the metadata; an unknown model exits 1 with one NotFound line", async () => {
    const url = stack.nats.url
    const [table, json, nobody] = await Promise.all([
      runCli(["models", "describe", "iris", "-s", url]),
      runCli(["models", "describe", "iris", "--json", "-s", url]),
      runCli(["models", "describe", "nobody", "-s", url])
    ])
    expect(table.code).toBe(0)
    expect(table.output).toMatch(/^model {4}iris$/m)
    expect(table.output).toMatch(/^backend {2}wasm$/m)
    expect(table.output).toMatch(/^input {3}measurements {2}float32 {2}\[\?, 4\]$/m)
    expect(table.output).toMatch(/^output {2}species {7}float32 {2}\[\?, 3\]$/m)
    expect(json.code).toBe(0)
    expect(JSON.parse(json.output)).toMatchObject({ name: "iris", version: 1, ...IRIS_SIGNATURE })
    expect(nobody.code).toBe(1)
    expect(nobody.output.trim().split("\n")).toEqual([expect.stringMatching(/^modelbus: NotFound: .*nobody/)])
  })
})

describe("after changes to the deployment", () => {
  it("an update moves INFO's version and metadata and describe's version on every replica", async () => {
    const result = await client.updateModel("iris", { path: await irisVariant(1.01) })
    expect(result.version).toBe(2)
    const infos = (await ask("$SRV.INFO.modelbus-iris")).map((a) => decodeInfo(a))
    expect(infos.map((i) => [i.version, i.metadata?.model_version])).toEqual([
      ["2.0.0", "2"],
      ["2.0.0", "2"]
    ])
    expect((await client.describe("iris")).version).toBe(2)
    // the other model's service is untouched
    expect((await ask("$SRV.PING.modelbus-tokens")).map((p) => decodePing(p).version)).toEqual(["1.0.0"])
  })

  it("a replica scaled away leaves discovery: PING answers once per remaining actor", async () => {
    await client.scale("iris", 1)
    const pings = (await ask("$SRV.PING.modelbus-iris")).map((a) => decodePing(a))
    const actors = (await liveActors()).filter((id) => id.startsWith("iris-"))
    expect(actors).toHaveLength(1)
    expect(pings.map((p) => p.metadata?.actor)).toEqual(actors)
  })
})
