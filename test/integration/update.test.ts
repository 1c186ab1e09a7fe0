// update-model on a real JetStream nats-server: rollouts under load, restarts onto the new version,
// compare-and-swap conflicts, refused artifacts, training on a replica, rollback, and no JetStream.
import { copyFile, mkdtemp, readFile, rm, writeFile } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Objm } from "@nats-io/obj"
import { type NatsConnection, headers as natsHeaders } from "@nats-io/transport-node"
import * as tfl from "@tensorflow/tfjs-layers"
import { Effect } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { startLocalNatsServer } from "../../src/cli/natsServer.js"
import {
  BadInput,
  type Client,
  connect,
  FitFailed,
  type HostTensor,
  IncompatibleSignature,
  ModelNotFinite,
  RegistryUnavailable,
  VersionConflict
} from "../../src/client/index.js"
import { readModelFolder } from "../../src/model/artifacts.js"
import { folderSaveHandler } from "../../src/model/files.js"
import { initRuntime } from "../../src/model/runtime.js"
import type { UpdateAck } from "../../src/protocol/messages.js"
import { subjects } from "../../src/protocol/subjects.js"
import { encodeBundle } from "../../src/registry/bundle.js"
import { fitErrorFromBody } from "../../src/registry/errors.js"
import { openRegistry } from "../../src/registry/Registry.js"
import { expectedAnswers, startLoad } from "../helpers/load.js"
import {
  eventually,
  FIXTURES,
  IRIS_MODEL,
  irisRows,
  spawnCli,
  startSupervisor,
  writeConfig
} from "../helpers/processes.js"
import { type Stack, startStack } from "../helpers/stack.js"

let stack: Stack
let client: Client
let raw: NatsConnection
let rows: Array<Array<number>>
const SETOSA = [5.1, 3.5, 1.4, 0.2]

/** A copy of the Iris model whose weights are scaled by `factor`: same signature, other outputs. */
const irisVariant = async (factor: number): Promise<string> => {
  const dir = await mkdtemp(join(tmpdir(), "modelbus-variant-"))
  await copyFile(join(IRIS_MODEL, "model.json"), join(dir, "model.json"))
  const weights = new Float32Array(new Uint8Array(await readFile(join(IRIS_MODEL, "weights.bin"))).buffer)
  await writeFile(join(dir, "weights.bin"), new Uint8Array(weights.map((w) => w * factor).buffer))
  return dir
}

/**
 * A copy of the Iris model whose weights are all finite but whose outputs overflow: a hidden bias of
 * 3e38 summed by a kernel of ones gives Infinity logits, so softmax answers NaN for any input.
 */
const overflowingIris = async (): Promise<string> => {
  const dir = await mkdtemp(join(tmpdir(), "modelbus-overflow-"))
  await copyFile(join(IRIS_MODEL, "model.json"), join(dir, "model.json"))
  const weights = new Float32Array(new Uint8Array(await readFile(join(IRIS_MODEL, "weights.bin"))).buffer)
  // manifest order: hidden/kernel [4,16], hidden/bias [16], species/kernel [16,3], species/bias [3]
  weights.fill(3e38, 64, 80)
  weights.fill(1, 80, 128)
  weights.fill(0, 128, 131)
  await writeFile(join(dir, "weights.bin"), new Uint8Array(weights.buffer))
  return dir
}

const actorsOf = async (model: string) =>
  (await client.status()).flatMap((s) => s.actors).filter((a) => a.model === model)
const predict = async (model: string, row: ReadonlyArray<number> = SETOSA) => {
  const reply = await client.infer(model, [row])
  return { version: reply.version, data: Array.from((reply.outputs as HostTensor).data as Float32Array) }
}

beforeAll(async () => {
  stack = await startStack({
    models: [
      { name: "iris", path: IRIS_MODEL, replicas: 2 },
      { name: "guarded", path: IRIS_MODEL, replicas: 2 },
      { name: "learner", path: IRIS_MODEL, replicas: 2 }
    ]
  })
  client = stack.client
  raw = stack.raw
  rows = await irisRows()
})

afterAll(async () => {
  expect((await stack?.stop())?.code).toBe(0)
})

describe("update-model", () => {
  it("seeds version 1 from the config's path and serves it", async () => {
    const [listed] = (await client.listModels()).filter((m) => m.model === "iris")
    expect(listed!.current.version).toBe(1)
    expect(listed!.current.source).toBe(`path:${IRIS_MODEL}`)
    expect(listed!.current.signature.inputs).toEqual([{ name: "measurements", dtype: "float32", shape: [null, 4] }])
    expect((await predict("iris")).version).toBe(1)
  })

  it("rolls out ten versions under load: no failed request, versions never go back, every replica acknowledges each (rollout times printed)", async () => {
    const variants = [await irisVariant(1.05), await irisVariant(0.95)]
    const load = startLoad(
      client,
      "iris",
      rows.slice(0, 30),
      await expectedAnswers(client, "iris", rows.slice(0, 30)),
      8
    )
    const seen = new Map<string, number>()
    let backwards = 0
    let stopWatching = false
    const watcher = (async () => {
      while (!stopWatching) {
        const reply = await client.infer("iris", [SETOSA])
        if (reply.version < (seen.get(reply.actor) ?? 0)) backwards++
        seen.set(reply.actor, reply.version)
      }
    })()
    const rollouts: Array<number> = []
    const results = []
    try {
      for (let i = 0; i < 10; i++) {
        const result = await client.updateModel("iris", { path: variants[i % 2]! }, { timeoutMs: 2_000 })
        results.push(result)
        rollouts.push(result.rolloutMs)
      }
    } finally {
      stopWatching = true
      await watcher
      await load.stop()
    }
    const summary = load.summary
    expect(results.map((r) => r.version)).toEqual([2, 3, 4, 5, 6, 7, 8, 9, 10, 11])
    expect(results.every((r) => r.pending.length === 0 && r.acked.length === 2)).toBe(true)
    console.log(`rollout of the Iris model (ms, update call to last ack): ${JSON.stringify(rollouts)}`)
    expect(summary.failures).toEqual([])
    expect(backwards).toBe(0)
    const actors = await eventually(
      async () => {
        const now = await actorsOf("iris")
        return now.every((a) => a.version === 11) ? now : undefined
      },
      5_000,
      "status to report version 11"
    )
    expect(actors.map((a) => [a.version, a.loads, a.restarts])).toEqual([
      [11, 11, 0],
      [11, 11, 0]
    ])
    // answers are the last variant's, not the original's (the load's expected answers no longer hold)
    expect((await predict("iris")).version).toBe(11)
  })

  it("brings a killed actor back on the updated version", async () => {
    const [victim] = await actorsOf("iris")
    const version = victim!.version
    process.kill(victim!.pid!, "SIGKILL")
    const back = await eventually(
      async () => {
        const slot = (await actorsOf("iris")).find((a) => a.id === victim!.id)
        return slot?.state === "serving" && slot.pid !== victim!.pid ? slot : undefined
      },
      10_000,
      "the killed replica to serve again"
    )
    expect(back.version).toBe(version)
    expect(back.loads).toBe(1)
    const versions = new Set<number>()
    for (let i = 0; i < 20; i++) versions.add((await predict("iris")).version)
    expect([...versions]).toEqual([version])
  })

  it("updates while replicas added by scale are starting: each ends on the new version, the rollout not waiting out its timeout", async () => {
    // The update lands at a spread of moments in the new replica's start: before it reads the
    // current version, while it loads it, and while it sets up its subscriptions.
    const timeoutMs = 30_000
    const figures: Array<Record<string, unknown>> = []
    const variants = await Promise.all([0.6, 0.7, 0.8, 0.9, 1.1].map(irisVariant))
    try {
      for (const [round, variant] of variants.entries()) {
        // scale answers once its replica serves: the update goes out before that, at a different moment each round
        const scaled = client.scale("iris", 3)
        await new Promise((resolve) => setTimeout(resolve, round * 250))
        const result = await client.updateModel("iris", { path: variant }, { timeoutMs })
        await scaled
        const now = await eventually(
          async () => {
            const actors = await actorsOf("iris")
            return actors.length === 3 && actors.every((a) => a.state === "serving") ? actors : undefined
          },
          30_000,
          "3 replicas serving"
        )
        figures.push({ afterScaleMs: round * 250, rolloutMs: result.rolloutMs, versions: now.map((a) => a.version) })
        expect(result.rolloutMs).toBeLessThan(timeoutMs)
        expect(result.pending).toEqual([])
        for (const a of now) expect([a.id, a.version]).toEqual([a.id, result.version])
        await client.scale("iris", 2)
        await eventually(async () => ((await actorsOf("iris")).length === 2 ? true : undefined), 30_000, "2 replicas")
      }
    } finally {
      console.log(`update while scaled replicas start: ${JSON.stringify(figures)}`)
      for (const variant of variants) await rm(variant, { recursive: true, force: true })
    }
  }, 300_000)

  it("lets one of two concurrent updates win; the other gets VersionConflict", async () => {
    const registry = await Effect.runPromise(openRegistry(raw, { prefix: "modelbus" }))
    const current = (await Effect.runPromise(registry.current("guarded")))!
    const next = { ...current.entry, version: current.entry.version + 1, source: "test" }
    const outcomes = await Promise.allSettled([
      Effect.runPromise(registry.publish("guarded", next, current.revision)),
      Effect.runPromise(registry.publish("guarded", next, current.revision))
    ])
    expect(outcomes.filter((o) => o.status === "fulfilled")).toHaveLength(1)
    const lost = outcomes.find((o) => o.status === "rejected") as PromiseRejectedResult
    expect(lost.reason).toBeInstanceOf(VersionConflict)
    expect((lost.reason as VersionConflict).actual).toBe(current.entry.version + 1)

    // through the client: both read the same version, only one compare-and-swap can win
    const variant = await irisVariant(1.1)
    const both = await Promise.allSettled([client.pushModel("guarded", variant), client.pushModel("guarded", variant)])
    const conflicts = both.filter((o) => o.status === "rejected").map((o) => (o as PromiseRejectedResult).reason)
    expect(conflicts.every((e) => e instanceof VersionConflict)).toBe(true)
    const versions = both
      .filter((o) => o.status === "fulfilled")
      .map((o) => (o as PromiseFulfilledResult<{ version: number }>).value.version)
    expect(new Set(versions).size).toBe(versions.length)
    await eventually(
      async () => ((await actorsOf("guarded")).every((a) => a.version === Math.max(...versions)) ? true : undefined),
      5_000,
      "replicas on the pushed version"
    )
  })

  it("refuses corrupt artifacts and an incompatible signature; the old version keeps serving", async () => {
    const before = await predict("guarded")
    const acks: Array<UpdateAck> = []
    const sub = raw.subscribe("modelbus.update.ack.guarded", {
      callback: (_e, m) => {
        acks.push(m.json<UpdateAck>())
      }
    })
    const registry = await Effect.runPromise(openRegistry(raw, { prefix: "modelbus" }))

    // a version whose stored bundle was altered after its digest was recorded
    const files = await readModelFolder(await irisVariant(1.2))
    const digest = await Effect.runPromise(registry.storeArtifacts("guarded", encodeBundle(files)))
    const store = await new Objm(raw).open("modelbus_artifacts")
    const tampered = new Map(files)
    tampered.set("weights.bin", new Uint8Array(files.get("weights.bin")!.byteLength).fill(7))
    await store.putBlob({ name: `guarded/${digest.slice("sha256:".length)}` }, encodeBundle(tampered))
    const current = (await Effect.runPromise(registry.current("guarded")))!
    await Effect.runPromise(
      registry.publish(
        "guarded",
        { ...current.entry, version: current.entry.version + 1, digest, source: "tampered" },
        current.revision
      )
    )
    const refused = await eventually(
      async () => (acks.filter((a) => !a.ok).length >= 2 ? acks : undefined),
      10_000,
      "both replicas to refuse"
    )
    expect(
      refused.every((a) => a.version === current.entry.version + 1 && /do not match their digest/.test(a.error ?? ""))
    ).toBe(true)
    expect(await predict("guarded")).toEqual(before)

    // an incompatible signature: the client refuses before publishing; replicas refuse it too
    await expect(client.updateModel("guarded", { path: join(FIXTURES, "two-inputs") })).rejects.toBeInstanceOf(
      IncompatibleSignature
    )
    const twoInputs = await readModelFolder(join(FIXTURES, "two-inputs"))
    const otherDigest = await Effect.runPromise(registry.storeArtifacts("guarded", encodeBundle(twoInputs)))
    const now = (await Effect.runPromise(registry.current("guarded")))!
    acks.length = 0
    await Effect.runPromise(
      registry.publish(
        "guarded",
        { ...now.entry, version: now.entry.version + 1, digest: otherDigest, source: "incompatible" },
        now.revision
      )
    )
    const incompatible = await eventually(
      async () => (acks.filter((a) => !a.ok).length >= 2 ? acks : undefined),
      10_000,
      "both replicas to refuse"
    )
    expect(incompatible.every((a) => /inputs differ/.test(a.error ?? ""))).toBe(true)
    expect(await predict("guarded")).toEqual(before)
    sub.unsubscribe()
  })

  it("refuses a version whose warm-up output is not finite, frees its tensors and keeps serving", async () => {
    const before = await predict("guarded")
    const tensorsBefore = new Map((await actorsOf("guarded")).map((a) => [a.id, a.tensors]))
    const acks: Array<UpdateAck> = []
    const sub = raw.subscribe("modelbus.update.ack.guarded", {
      callback: (_e, m) => {
        acks.push(m.json<UpdateAck>())
      }
    })
    // written straight into the registry, past publish's own checks
    const registry = await Effect.runPromise(openRegistry(raw, { prefix: "modelbus" }))
    const files = await readModelFolder(await overflowingIris())
    const digest = await Effect.runPromise(registry.storeArtifacts("guarded", encodeBundle(files)))
    const current = (await Effect.runPromise(registry.current("guarded")))!
    const bad = current.entry.version + 1
    await Effect.runPromise(
      registry.publish("guarded", { ...current.entry, version: bad, digest, source: "overflowing" }, current.revision)
    )
    const answered = await eventually(
      async () =>
        acks.filter((a) => a.version === bad).length >= 2 ? acks.filter((a) => a.version === bad) : undefined,
      10_000,
      "both replicas to answer the overflowing version"
    )
    sub.unsubscribe()
    expect(answered.map((a) => a.ok)).toEqual([false, false])
    expect(answered.every((a) => /output species .*NaN/.test(a.error ?? ""))).toBe(true)
    expect(await predict("guarded")).toEqual(before)

    // a good version after it: once status reports it, the heartbeat is newer than the refusal
    const good = await client.updateModel("guarded", { path: await irisVariant(0.9) }, { timeoutMs: 5_000 })
    expect(good.pending).toEqual([])
    await eventually(
      async () => {
        const now = await actorsOf("guarded")
        return now.every((a) => a.version === good.version && a.tensors === tensorsBefore.get(a.id)) ? now : undefined
      },
      10_000,
      `the replicas' live tensor counts to return to ${JSON.stringify([...tensorsBefore])}`
    )
  })

  it("fit lowers the loss on its data and changes the served predictions; rollback restores them exactly", async () => {
    const VERSICOLOR = [5.9, 3.0, 4.2, 1.5]
    const before = await predict("learner", VERSICOLOR)
    expect(before.data.indexOf(Math.max(...before.data))).toBe(1)
    // teach it that this versicolor is a virginica
    const x = Array.from({ length: 16 }, () => VERSICOLOR)
    const y = Array.from({ length: 16 }, () => [0, 0, 1])
    const result = await client.updateModel("learner", { fit: { x, y, epochs: 30, batchSize: 16, learningRate: 0.05 } })
    expect(result.loss).toHaveLength(30)
    expect(result.loss!.at(-1)!).toBeLessThan(result.loss![0]! / 2)
    expect(result.pending).toEqual([])
    const after = await predict("learner", VERSICOLOR)
    expect(after.version).toBe(result.version)
    expect(after.data[2]!).toBeGreaterThan(before.data[2]! + 0.5)

    const rolled = await client.rollbackModel("learner")
    expect(rolled.version).toBe(result.version + 1)
    const restored = await predict("learner", VERSICOLOR)
    expect(restored.data).toEqual(before.data)
    expect((await client.modelHistory("learner")).map((v) => v.source.split(" ")[0]!.split(":")[0])).toEqual([
      "path",
      "fit",
      "rollback"
    ])
  })

  it("refuses a fit that trains the model into NaN: ModelNotFinite, history unchanged, answers stay finite", async () => {
    const history = await client.modelHistory("learner")
    const x = Array.from({ length: 16 }, () => [1e38, 1e38, 1e38, 1e38])
    const y = Array.from({ length: 16 }, () => [1, 0, 0])
    const error = await client
      .updateModel("learner", { fit: { x, y, epochs: 3, batchSize: 16 } })
      .catch((e: unknown) => e)
    expect(error).toBeInstanceOf(ModelNotFinite)
    expect((error as ModelNotFinite).message).toMatch(/(weight|output) \S+ .*(NaN|Infinity)/)
    expect(await client.modelHistory("learner")).toEqual(history)
    for (let i = 0; i < 10; i++) {
      const answer = await predict("learner", rows[i * 15]!)
      expect(answer.version).toBe(history.at(-1)!.version)
      expect(answer.data.every(Number.isFinite)).toBe(true)
    }
  })

  it("rolls out a model of a few MB", async () => {
    await Effect.runPromise(initRuntime("wasm"))
    const big = tfl.sequential({
      layers: [
        tfl.layers.dense({ inputShape: [4], units: 1024, activation: "relu", name: "wide1" }),
        tfl.layers.dense({ units: 1024, activation: "relu", name: "wide2" }),
        tfl.layers.dense({ units: 3, activation: "softmax", name: "species" })
      ]
    })
    const dir = await mkdtemp(join(tmpdir(), "modelbus-big-"))
    await big.save(folderSaveHandler(dir))
    big.dispose()
    const result = await client.updateModel("guarded", { path: dir }, { force: true, timeoutMs: 20_000 })
    const sizeMb = (await readFile(join(dir, "weights.bin"))).byteLength / 1024 / 1024
    console.log(`rollout of a ${sizeMb.toFixed(1)} MB model to 2 replicas: ${result.rolloutMs} ms`)
    expect(result.pending).toEqual([])
    expect((await predict("guarded")).version).toBe(result.version)
  })

  it("answers BadInput to a malformed fit body, and FitFailed when training hits a defect (its temp folder is gone); the actor keeps running", async () => {
    const tmp = await mkdtemp(join(tmpdir(), "modelbus-tmpdir-"))
    const config = await writeConfig({ models: [{ name: "fragile", path: IRIS_MODEL }] })
    const supervisor = spawnCli(["supervise", "--config", config, "--server", stack.nats.url], { TMPDIR: tmp })
    try {
      await supervisor.waitForLine(/modelbus ready/, 60_000)
      const [before] = await actorsOf("fragile")
      expect(before!.state).toBe("serving")
      const json = natsHeaders()
      json.set("Content-Type", "application/json")
      const malformed = await raw.request(subjects().fit("fragile"), JSON.stringify({ x: [SETOSA], epochs: 0 }), {
        timeout: 15_000,
        headers: json
      })
      const badInput = fitErrorFromBody(malformed.json())
      expect(badInput).toBeInstanceOf(BadInput)
      expect(badInput!.message).toContain("y: Missing key")
      expect(badInput!.message).toContain("epochs: Expected a value greater than or equal to 1, got 0")
      await rm(tmp, { recursive: true, force: true })
      const reply = await raw.request(
        subjects().fit("fragile"),
        JSON.stringify({ x: [SETOSA], y: [[1, 0, 0]], epochs: 1 }),
        { timeout: 15_000, headers: json }
      )
      const error = fitErrorFromBody(reply.json())
      expect(error).toBeInstanceOf(FitFailed)
      expect(error!.message).toMatch(/ENOENT/)
      const [after] = await actorsOf("fragile")
      expect([after!.pid, after!.state, after!.restarts]).toEqual([before!.pid, "serving", 0])
      expect((await predict("fragile")).data.every(Number.isFinite)).toBe(true)
    } finally {
      expect((await supervisor.stop()).code).toBe(0)
    }
  })
})

describe("without JetStream", () => {
  it("serves from the config's path, and updates fail with RegistryUnavailable saying how to enable it", async () => {
    const plain = await startLocalNatsServer({ jetstream: false })
    const p = await startSupervisor(plain.url, { models: [{ name: "plain", path: IRIS_MODEL }] })
    const c = await connect({ servers: plain.url })
    try {
      expect((await c.infer("plain", [SETOSA])).version).toBe(1)
      expect(p.output()).toMatch(/JetStream is not available on this NATS server/)
      const error = await c.updateModel("plain", { path: IRIS_MODEL }).catch((e: unknown) => e)
      expect(error).toBeInstanceOf(RegistryUnavailable)
      expect((error as RegistryUnavailable).message).toMatch(/start nats-server with -js/)
    } finally {
      await c.close()
      expect((await p.stop()).code).toBe(0)
      await plain.stop()
    }
  })
})
