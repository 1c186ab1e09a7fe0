// Reading a registry object that was put again under the same name while it was read, on a real
// JetStream nats-server: two replicas seeding one model both upload the same bundle, and the second
// put purges the first one's chunks. A read that began on the first put's info must still succeed.
import { Objm } from "@nats-io/obj"
import { connect, type NatsConnection } from "@nats-io/transport-node"
import { Effect } from "effect"
import { afterAll, beforeAll, expect, it } from "vitest"
import { type LocalNatsServer, startLocalNatsServer } from "../../src/cli/natsServer.js"
import { readObject } from "../../src/registry/download.js"

let nats: LocalNatsServer
let nc: NatsConnection

beforeAll(async () => {
  nats = await startLocalNatsServer()
  nc = await connect({ servers: nats.url })
})

afterAll(async () => {
  await nc?.close()
  await nats?.stop()
})

it("reads an object put again after its info was read (the old chunks purged) from the new put", async () => {
  const store = await new Objm(nc).create("reads")
  const bytes = Uint8Array.from({ length: 300_000 }, (_, i) => (i * 7) % 251)
  const put = () => store.put({ name: "m/digest", options: { max_chunk_size: 128 * 1024 } }, blob(bytes))
  await put()
  const stale = await store.info("m/digest")
  await put()
  const fresh = await store.info("m/digest")
  expect(fresh?.nuid).not.toBe(stale?.nuid)
  // the read's first look at the info sees the first put, as a reader racing the second put did
  let looks = 0
  const racing = new Proxy(store, {
    get: (target, key) =>
      key === "info"
        ? (name: string) => (looks++ === 0 ? Promise.resolve(stale) : target.info(name))
        : Reflect.get(target, key)
  })
  const read = await Effect.runPromise(readObject(nc, racing, "reads", "m/digest"))
  expect(looks).toBeGreaterThanOrEqual(2)
  expect(read).toEqual(bytes)
})

it("answers null for an object that is not there", async () => {
  const store = await new Objm(nc).create("absent")
  expect(await Effect.runPromise(readObject(nc, store, "absent", "m/none"))).toBeNull()
})

const blob = (bytes: Uint8Array) =>
  new ReadableStream<Uint8Array>({
    start(controller) {
      controller.enqueue(bytes)
      controller.close()
    }
  })
