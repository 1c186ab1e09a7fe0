// Artifacts and registry entries someone else wrote, on a real JetStream nats-server and supervisor:
// corrupt versions are refused at push and by every replica, which keeps serving; nothing crashes.
import { copyFile, mkdir, mkdtemp, readFile, rm, symlink, writeFile } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Kvm } from "@nats-io/kv"
import type { NatsConnection } from "@nats-io/transport-node"
import { Effect } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { ArtifactCorrupt, type Client, type HostTensor, RegistryUnavailable } from "../../src/client/index.js"
import { readModelFolder } from "../../src/model/artifacts.js"
import type { UpdateAck } from "../../src/protocol/messages.js"
import { encodeBundle } from "../../src/registry/bundle.js"
import { openRegistry } from "../../src/registry/Registry.js"
import type { ModelVersion } from "../../src/registry/versions.js"
import { eventually, IRIS_MODEL } from "../helpers/processes.js"
import { type Stack, startStack } from "../helpers/stack.js"

let stack: Stack
let client: Client
let raw: NatsConnection
const SETOSA = [5.1, 3.5, 1.4, 0.2]

/** A copy of the Iris model folder; `edit` changes its manifest and returns the weight file's bytes to write. */
const irisCopy = async (weightsName: string, weights: Uint8Array): Promise<string> => {
  const root = await mkdtemp(join(tmpdir(), "modelbus-artifacts-"))
  const dir = join(root, "model")
  await mkdir(dir)
  const json = JSON.parse(await readFile(join(IRIS_MODEL, "model.json"), "utf8"))
  json.weightsManifest[0].paths = [weightsName]
  await writeFile(join(dir, "model.json"), JSON.stringify(json))
  await writeFile(join(dir, weightsName), weights)
  return dir
}

const irisWeights = async () => new Uint8Array(await readFile(join(IRIS_MODEL, "weights.bin")))

const predict = async () => {
  const reply = await client.infer("guarded", [SETOSA])
  return { version: reply.version, data: Array.from((reply.outputs as HostTensor).data as Float32Array) }
}

const actors = async () => (await client.status()).flatMap((s) => s.actors).filter((a) => a.model === "guarded")

/** Collects the update acks of "guarded" until `stop`. */
const collectAcks = () => {
  const acks: Array<UpdateAck> = []
  const sub = raw.subscribe("modelbus.update.ack.guarded", { callback: (_e, m) => void acks.push(m.json<UpdateAck>()) })
  return { acks, stop: () => sub.unsubscribe() }
}

/** Publishes `files` as the next version directly in the registry, skipping every client-side check. */
const writeDirectly = async (files: ReadonlyMap<string, Uint8Array>, source: string) => {
  const registry = await Effect.runPromise(openRegistry(raw, { prefix: "modelbus" }))
  const bundle = encodeBundle(files)
  const digest = await Effect.runPromise(registry.storeArtifacts("guarded", bundle))
  const current = (await Effect.runPromise(registry.current("guarded")))!
  const entry: ModelVersion = {
    ...current.entry,
    version: current.entry.version + 1,
    digest,
    source,
    size: bundle.byteLength
  }
  await Effect.runPromise(registry.publish("guarded", entry, current.revision))
  return entry.version
}

beforeAll(async () => {
  stack = await startStack({ models: [{ name: "guarded", path: IRIS_MODEL, replicas: 2 }] })
  client = stack.client
  raw = stack.raw
})

afterAll(async () => {
  expect((await stack?.stop())?.code).toBe(0)
})

describe("artifacts checked before anything loads them", () => {
  it("refuses at push a weight file longer than its manifest (30 MB for 524 bytes) and a path leaving the folder; nothing is published", async () => {
    const before = await client.modelHistory("guarded")
    const longer = new Uint8Array(30 * 1024 * 1024)
    longer.set(await irisWeights())
    const pushed = await client.pushModel("guarded", await irisCopy("weights.bin", longer)).catch((e: unknown) => e)
    expect(pushed).toBeInstanceOf(ArtifactCorrupt)
    expect(pushed).toMatchObject({ expected: "524 bytes", actual: "31457280 bytes" })
    expect((pushed as ArtifactCorrupt).message).toContain("expected 524 bytes, received 31457280 bytes")

    const outside = await irisCopy("weights.bin", await irisWeights())
    await copyFile(join(outside, "weights.bin"), join(outside, "../outside.bin"))
    const json = JSON.parse(await readFile(join(outside, "model.json"), "utf8"))
    json.weightsManifest[0].paths = ["../outside.bin"]
    await writeFile(join(outside, "model.json"), JSON.stringify(json))
    const updated = await client.updateModel("guarded", { path: outside }).catch((e: unknown) => e)
    expect(updated).toBeInstanceOf(ArtifactCorrupt)
    expect((updated as ArtifactCorrupt).message).toContain('weight path "../outside.bin" leaves the model folder')
    expect(await client.modelHistory("guarded")).toEqual(before)
  })

  it("refuses at push a weight file that is a symbolic link to a file outside the folder; nothing is published", async () => {
    const before = await client.modelHistory("guarded")
    const linked = await irisCopy("weights.bin", await irisWeights())
    // a file the pusher can read but the model folder does not hold, of the size the manifest declares
    const secret = join(linked, "../secret.bin")
    await writeFile(secret, new Uint8Array(524).fill(7))
    await rm(join(linked, "weights.bin"))
    await symlink(secret, join(linked, "weights.bin"))
    const pushed = await client.pushModel("guarded", linked).catch((e: unknown) => e)
    expect(pushed).toBeInstanceOf(ArtifactCorrupt)
    expect(pushed).toMatchObject({
      expected: "a file inside the model folder",
      actual: "a symbolic link leaving the model folder"
    })
    expect((pushed as ArtifactCorrupt).message).toContain('model file "weights.bin" is a symbolic link')
    // a link that stays inside the folder is a file of the model like any other
    const inside = await irisCopy("real.bin", await irisWeights())
    const json = JSON.parse(await readFile(join(inside, "model.json"), "utf8"))
    json.weightsManifest[0].paths = ["weights.bin"]
    await writeFile(join(inside, "model.json"), JSON.stringify(json))
    await symlink(join(inside, "real.bin"), join(inside, "weights.bin"))
    expect(Array.from((await readModelFolder(inside)).keys()).sort()).toEqual(["model.json", "weights.bin"])
    expect(await client.modelHistory("guarded")).toEqual(before)
  })

  it("has every replica refuse versions written straight into the registry (longer weights, ../ path, unknown dtype) and keep serving", async () => {
    const before = await predict()
    const pids = (await actors()).map((a) => a.pid).sort()
    const iris = await readModelFolder(IRIS_MODEL)
    const longer = new Uint8Array(524 + 4096)
    longer.set(iris.get("weights.bin")!)
    const manifest = (
      edit: (json: { weightsManifest: Array<{ paths: Array<string>; weights: Array<{ dtype: string }> }> }) => void
    ) => {
      const json = JSON.parse(new TextDecoder().decode(iris.get("model.json")))
      edit(json)
      return new TextEncoder().encode(JSON.stringify(json))
    }
    const corrupt: ReadonlyArray<[string, ReadonlyMap<string, Uint8Array>, RegExp]> = [
      ["longer", new Map(iris).set("weights.bin", longer), /expected 524 bytes, received 4620 bytes/],
      [
        "outside",
        new Map([
          ["model.json", manifest((j) => (j.weightsManifest[0]!.paths = ["../outside.bin"]))],
          ["../outside.bin", iris.get("weights.bin")!]
        ]),
        /leaves the model folder/
      ],
      [
        "float64",
        new Map(iris).set(
          "model.json",
          manifest((j) => (j.weightsManifest[0]!.weights[0]!.dtype = "float64"))
        ),
        /has dtype "float64"/
      ]
    ]
    for (const [source, files, why] of corrupt) {
      const acks = collectAcks()
      const version = await writeDirectly(files, source)
      const refused = await eventually(
        async () => (acks.acks.filter((a) => a.version === version && !a.ok).length >= 2 ? acks.acks : undefined),
        15_000,
        `both replicas to refuse the ${source} version`
      )
      acks.stop()
      expect(refused.filter((a) => a.version === version).every((a) => why.test(a.error ?? ""))).toBe(true)
      expect(await predict()).toEqual(before)
    }
    expect((await actors()).map((a) => a.pid).sort()).toEqual(pids)
  })

  it("starts a replica restarted while the current version is not finite on the newest version that is, as the others kept", async () => {
    const before = await predict()
    const iris = await readModelFolder(IRIS_MODEL)
    const weights = new Float32Array(new Uint8Array(iris.get("weights.bin")!).buffer.slice(0))
    weights[0] = Number.NaN
    const acks = collectAcks()
    const version = await writeDirectly(new Map(iris).set("weights.bin", new Uint8Array(weights.buffer)), "nan")
    await eventually(
      async () => (acks.acks.filter((a) => a.version === version && !a.ok).length >= 2 ? true : undefined),
      15_000,
      "both replicas to refuse the version that is not finite"
    )
    acks.stop()
    const [victim, other] = await actors()
    process.kill(victim!.pid!, "SIGKILL")
    const restarted = await eventually(
      async () => {
        const slot = (await actors()).find((a) => a.id === victim!.id)
        return slot !== undefined && slot.pid !== victim!.pid && slot.pid !== null && slot.state === "serving"
          ? slot
          : undefined
      },
      60_000,
      "the killed replica to serve again"
    )
    expect([restarted.version, other!.version]).toEqual([before.version, before.version])
    for (let i = 0; i < 6; i++) {
      const answer = await predict()
      expect(answer).toEqual(before)
      expect(answer.data.every(Number.isFinite)).toBe(true)
    }
  })
})

describe("control-plane input decoded with Schema", () => {
  it("ignores a malformed KV entry (replicas keep serving and following), and refuses it as current with the field named", async () => {
    const pids = (await actors()).map((a) => a.pid).sort()
    const before = await predict()
    const kv = await new Kvm(raw).open("modelbus_models")
    const good = (await kv.get("guarded"))!
    const entry = good.json<ModelVersion>()
    await kv.put("guarded", JSON.stringify({ ...entry, version: entry.version + 1, digest: "../../etc/passwd" }))
    const refused = await client
      .modelHistory("guarded")
      .then(() => client.pushModel("guarded", IRIS_MODEL))
      .catch((e: unknown) => e)
    expect(refused).toBeInstanceOf(RegistryUnavailable)
    expect((refused as RegistryUnavailable).message).toMatch(
      /registry entry guarded \(revision \d+\) is not a model version: .*digest/
    )
    await kv.put("guarded", "not json at all")
    await kv.put("guarded", JSON.stringify({ version: "7" }))
    expect(await predict()).toEqual(before)

    // a valid version after the malformed ones still reaches every replica
    await kv.put("guarded", JSON.stringify(entry))
    const result = await client.updateModel("guarded", { path: IRIS_MODEL })
    expect(result.acked).toHaveLength(2)
    expect((await predict()).version).toBe(result.version)
    expect((await actors()).map((a) => a.pid).sort()).toEqual(pids)
  })

  it("passes on lifecycle events that decode and leaves out what someone else published on the subject", async () => {
    const events: Array<unknown> = []
    const unsubscribe = await client.onEvents((e) => events.push(e), "guarded")
    const valid = { type: "scaled", model: "guarded", supervisor: "elsewhere", at: 1, replicas: 2 }
    for (const junk of [
      "not json",
      "[]",
      JSON.stringify({ type: "exploded", model: "guarded" }),
      JSON.stringify(valid)
    ]) {
      raw.publish("modelbus.events.guarded", junk)
    }
    await raw.flush()
    await eventually(async () => (events.length > 0 ? events : undefined), 5_000, "the valid event")
    unsubscribe()
    expect(events).toEqual([valid])
  })
})
