// Batches sized by measurement on real actors: each replica under `auto` measures its limit and reports
// it alike in status, $SRV.INFO and describe; a fixed limit stays as configured; hundreds of concurrent
// requests run in batches never above the limit, each answer bitwise what the same input gets alone;
// an update is measured again, and its answers stay bitwise equal too.
import { copyFile, mkdtemp, readFile, writeFile } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Schema } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import type { ActorStatus, HostTensor } from "../../src/client/index.js"
import { gather } from "../../src/nats/gather.js"
import { InfoResponse } from "../../src/protocol/micro.js"
import { type CliProcess, eventually, FIXTURES, IRIS_MODEL } from "../helpers/processes.js"
import { histogram, parseScrape } from "../helpers/prometheus.js"
import { type Stack, startStack } from "../helpers/stack.js"

const CONV = join(FIXTURES, "conv")
const config = {
  metrics: { port: 0 },
  models: [
    { name: "conv", path: CONV, replicas: 2, heartbeatMs: 200 },
    { name: "iris", path: IRIS_MODEL, replicas: 1, heartbeatMs: 200, batching: { maxBatchSize: "auto" } },
    { name: "iris-fixed", path: IRIS_MODEL, replicas: 1, heartbeatMs: 200, batching: { maxBatchSize: 4 } }
  ]
}
const POWERS_OF_TWO = [1, 2, 4, 8, 16, 32, 64, 128, 256]

let stack: Stack
let metricsPort: number

beforeAll(async () => {
  // every request counted exactly once: no hedged second copies
  stack = await startStack(config, { hedge: false })
  metricsPort = await portOf(stack.supervisor)
}, 90_000)

afterAll(async () => {
  expect((await stack?.stop())?.code).toBe(0)
})

const portOf = async (supervisor: CliProcess): Promise<number> =>
  Number(/on port (\d+)/.exec(await supervisor.waitForLine(/modelbus metrics: .* on port \d+/))![1])

const scrape = async () => parseScrape(await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text())

const actorsOf = async (model: string): Promise<Array<ActorStatus>> =>
  (await stack.client.status()).flatMap((s) => s.actors).filter((a) => a.model === model)

/** The model's actors once every one of them serves `version` with a limit measured on it. */
const measured = (model: string, replicas: number, version = 1) =>
  eventually(
    async () => {
      const actors = await actorsOf(model)
      const done = actors.filter(
        (a) => a.state === "serving" && a.batching?.source === "measured" && a.batching.version === version
      )
      if (done.length === replicas) return done
      // kept as the last error, so a timeout says where each replica stands
      throw new Error(
        `${JSON.stringify(actors.map((a) => ({ id: a.id, state: a.state, batching: a.batching })))}; ${stack.supervisor
          .output()
          .split("\n")
          .filter((line) => line.includes("batches at most"))
          .join("\n")}`
      )
    },
    30_000,
    `${replicas} ${model} replica(s) to measure their batch limit on v${version}`
  )

/** Every $SRV.INFO answer of a model's service (until none comes for 300 ms). */
const infosOf = async (model: string) =>
  (await gather(stack.raw, `$SRV.INFO.modelbus-${model}`, new Uint8Array(0), { strategy: "stall", stall: 300 })).map(
    (m) => Schema.decodeUnknownSync(InfoResponse)(JSON.parse(m.string()))
  )

/** `count` distinct 12×12 single-channel images, deterministic. */
const images = (count: number): Array<HostTensor> =>
  Array.from({ length: count }, (_, i) => ({
    dtype: "float32",
    shape: [1, 12, 12, 1],
    data: Float32Array.from({ length: 144 }, (_, j) => Math.sin(i * 31 + j * 0.37) * (1 + (i % 5)))
  }))

/** The raw little-endian bytes of a reply's output tensor: what bitwise equality compares. */
const bytesOf = (outputs: unknown): Array<number> => {
  const data = (outputs as HostTensor).data
  return Array.from(new Uint8Array(data.buffer, data.byteOffset, data.byteLength))
}

/** Each input answered alone: one request at a time, so every model call has one row. */
const answeredAlone = async (model: string, inputs: ReadonlyArray<HostTensor>) => {
  const out: Array<Array<number>> = []
  for (const input of inputs) out.push(bytesOf((await stack.client.infer(model, input)).outputs))
  return out
}

/** Scrapes until the model's ok-request counter (sent with heartbeats, like the batch histogram) reaches `served`. */
const scrapeAfter = (model: string, served: number) =>
  eventually(
    async () => {
      const s = await scrape()
      const ok = s.flat
        .find((f) => f.name === "modelbus_requests_total")
        ?.metrics.filter((m) => m.labels?.model === model && m.labels?.outcome === "ok")
        .reduce((n, m) => n + Number(m.value), 0)
      return ok === served ? s : undefined
    },
    20_000,
    `the ${model} actors to report ${served} requests answered`
  )

describe("batch limits measured per model version", () => {
  it("each replica under auto measures a limit and reports it alike in status, $SRV.INFO and describe", async () => {
    const conv = await measured("conv", 2)
    const [iris] = await measured("iris", 1)
    for (const actor of [...conv, iris!]) {
      expect(POWERS_OF_TWO).toContain(actor.batching!.maxBatchSize)
      // both models pay far more per call than per row at these sizes: batching must pay off
      expect(actor.batching!.maxBatchSize).toBeGreaterThan(1)
    }
    const limitOf = new Map(conv.map((a) => [a.id, a.batching!.maxBatchSize]))
    const infos = await infosOf("conv")
    expect(infos).toHaveLength(2)
    for (const info of infos) {
      expect(info.endpoints[0]!.metadata).toMatchObject({
        max_batch_size: String(limitOf.get(info.metadata!.actor!)),
        batch_limit: "measured"
      })
    }
    const described = await stack.client.describe("conv")
    expect(described.maxBatchSize).toBe(limitOf.get(described.actor))
  })

  it("keeps a fixed maxBatchSize exactly as configured, unmeasured", async () => {
    const [fixed] = await eventually(
      async () => {
        const actors = await actorsOf("iris-fixed")
        return actors.every((a) => a.state === "serving") && actors.length === 1 ? actors : undefined
      },
      60_000,
      "iris-fixed to serve"
    )
    expect(fixed!.batching).toEqual({ maxBatchSize: 4, source: "config" })
    const [info] = await infosOf("iris-fixed")
    expect(info!.endpoints[0]!.metadata).toMatchObject({ max_batch_size: "4", batch_limit: "config" })
  })

  it("answers hundreds of concurrent requests in batches within the limit, each bitwise as the input alone", async () => {
    const conv = await measured("conv", 2)
    const inputs = images(48)
    const alone = await answeredAlone("conv", inputs)
    const before = await scrapeAfter("conv", inputs.length)
    const statusBefore = await actorsOf("conv")
    const rounds = 8
    const replies = await Promise.all(
      Array.from({ length: rounds * inputs.length }, (_, i) => stack.client.infer("conv", inputs[i % inputs.length]!))
    )
    replies.forEach((reply, i) => {
      expect(reply.version).toBe(1)
      expect(bytesOf(reply.outputs)).toEqual(alone[i % inputs.length])
    })
    const sent = rounds * inputs.length
    const after = await scrapeAfter("conv", inputs.length + sent)
    const statusAfter = await eventually(
      async () => {
        const actors = await actorsOf("conv")
        const served = actors.reduce((n, a) => n + a.served, 0) - statusBefore.reduce((n, a) => n + a.served, 0)
        return served === sent ? actors : undefined
      },
      20_000,
      "status to count the concurrent requests"
    )
    const calls =
      statusAfter.reduce((n, a) => n + (a.calls ?? 0), 0) - statusBefore.reduce((n, a) => n + (a.calls ?? 0), 0)
    // batches formed: fewer model calls than requests
    expect(calls).toBeLessThan(sent)
    for (const actor of conv) {
      const labels = { model: "conv", actor: actor.id }
      const was = histogram(before, "modelbus_batch_size", labels)
      const now = histogram(after, "modelbus_batch_size", labels)
      const limit = String(actor.batching!.maxBatchSize)
      const grew = (h: typeof now, le: string) => (h.buckets.get(le) ?? 0) - (was.buckets.get(le) ?? 0)
      // every call of this burst had at most `limit` requests
      expect(grew(now, limit)).toBe(grew(now, "+Inf"))
    }
  })

  it("measures a new version again after an update; its batched answers stay bitwise as alone", async () => {
    await measured("conv", 2)
    const inputs = images(24)
    const version1 = await answeredAlone("conv", inputs)
    const dir = await mkdtemp(join(tmpdir(), "modelbus-conv-v2-"))
    await copyFile(join(CONV, "model.json"), join(dir, "model.json"))
    const weights = new Float32Array(new Uint8Array(await readFile(join(CONV, "weights.bin"))).buffer)
    await writeFile(join(dir, "weights.bin"), new Uint8Array(weights.map((w) => w * 1.1).buffer))
    const result = await stack.client.updateModel("conv", { path: dir }, { timeoutMs: 30_000 })
    expect(result.version).toBe(2)
    const conv = await measured("conv", 2, 2)
    for (const actor of conv) expect(POWERS_OF_TWO).toContain(actor.batching!.maxBatchSize)
    const alone = await answeredAlone("conv", inputs)
    // the new weights answer differently: the comparison below is with version 2's own answers
    expect(alone).not.toEqual(version1)
    const replies = await Promise.all(
      Array.from({ length: 4 * inputs.length }, (_, i) => stack.client.infer("conv", inputs[i % inputs.length]!))
    )
    replies.forEach((reply, i) => {
      expect(reply.version).toBe(2)
      expect(bytesOf(reply.outputs)).toEqual(alone[i % inputs.length])
    })
  })
})
