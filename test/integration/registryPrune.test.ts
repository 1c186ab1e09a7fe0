// Pruning the registry's artifacts on a real JetStream nats-server: with a retention of 3, each publish
// deletes the artifacts no kept version refers to, and keeps those a rollback still names; a history
// that does not read whole (wholeHistory, unit-tested on the reads a node loss can give) deletes nothing.
import { rm } from "node:fs/promises"
import { Objm } from "@nats-io/obj"
import { type NatsConnection, connect as natsConnect } from "@nats-io/transport-node"
import { Effect } from "effect"
import { afterAll, beforeAll, expect, it } from "vitest"
import { type LocalNatsServer, startLocalNatsServer } from "../../src/cli/natsServer.js"
import { readModelFolder } from "../../src/model/artifacts.js"
import { publishVersion, rollbackVersion } from "../../src/registry/publish.js"
import { openRegistry, type Registry } from "../../src/registry/Registry.js"
import { scaledIris } from "../helpers/irisVariants.js"

const PREFIX = "prunetest"
const MODEL = "iris"

let nats: LocalNatsServer
let nc: NatsConnection
let registry: Registry
const folders: Array<string> = []

beforeAll(async () => {
  nats = await startLocalNatsServer()
  nc = await natsConnect({ servers: nats.url })
  registry = await Effect.runPromise(openRegistry(nc, { prefix: PREFIX, retention: 3 }))
})

afterAll(async () => {
  await nc?.close()
  await nats?.stop()
  for (const dir of folders) await rm(dir, { recursive: true, force: true })
})

/** The digests of the model's artifacts in the object store now. */
const storedDigests = async () => {
  const store = await new Objm(nc).open(`${PREFIX}_artifacts`)
  return (await store.list())
    .filter((o) => !o.deleted && o.name.startsWith(`${MODEL}/`))
    .map((o) => `sha256:${o.name.slice(MODEL.length + 1)}`)
    .sort()
}

it("deletes the artifacts of versions past the retention and keeps those a kept version names", async () => {
  const digests: Array<string> = []
  for (let v = 1; v <= 5; v++) {
    const dir = await scaledIris(1 + v / 10)
    folders.push(dir)
    const entry = await Effect.runPromise(
      publishVersion(registry, MODEL, await readModelFolder(dir), { source: `test:${v}` })
    )
    expect(entry.version).toBe(v)
    digests.push(entry.digest)
    // versions max(1, v - 2) … v are kept, and only their artifacts
    expect(await storedDigests()).toEqual(digests.slice(Math.max(0, v - 3)).sort())
  }
  // v6 serves v4's artifacts; a publish after it keeps them (v4 and v6 name them), and drops v5's
  const rolled = await Effect.runPromise(rollbackVersion(registry, MODEL, 4))
  expect(rolled).toMatchObject({ version: 6, digest: digests[3] })
  const dir = await scaledIris(2)
  folders.push(dir)
  const seventh = await Effect.runPromise(
    publishVersion(registry, MODEL, await readModelFolder(dir), { source: "test:7" })
  )
  expect(await storedDigests()).toEqual([digests[3]!, digests[4]!, seventh.digest].sort())
  const eighth = await Effect.runPromise(
    publishVersion(registry, MODEL, await readModelFolder(folders[0]!), { source: "test:8" })
  )
  // kept: v6 (v4's artifacts), v7, v8 (v1's artifacts, uploaded again)
  expect(await storedDigests()).toEqual([digests[3]!, seventh.digest, eighth.digest].sort())
}, 120_000)
