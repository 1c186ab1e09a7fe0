// Scatter-gather on a real nats-server: the "announced" plan waits for the announced count of
// answers, takes the ones nobody announced that come in a quiet gap after, and then stops.
import { connect, type Msg, type NatsConnection } from "@nats-io/transport-node"
import { afterAll, beforeAll, expect, it } from "vitest"
import { type LocalNatsServer, startLocalNatsServer } from "../../src/cli/natsServer.js"
import { gather } from "../../src/nats/gather.js"

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

const answering = (subject: string, name: string, answer: (msg: Msg) => void = (m) => m.respond(name)) =>
  nc.subscribe(subject, { callback: (_e, msg) => answer(msg) })

const names = (msgs: ReadonlyArray<Msg>) => msgs.map((m) => m.string()).sort()

it("takes an answer beyond the announced count, and ends on a quiet gap rather than at maxWait", async () => {
  const subs = [answering("g.one", "a"), answering("g.one", "b"), answering("g.one", "c")]
  // "late" answers only once the gather has returned: the gather ended without waiting for it
  let answerLate: (() => void) | undefined
  subs.push(answering("g.one", "late", (msg) => (answerLate = () => msg.respond("late"))))
  await nc.flush()
  const got = await gather(nc, "g.one", new Uint8Array(), {
    strategy: "announced",
    count: 2,
    quietMs: 50,
    maxWait: 600_000
  })
  answerLate?.()
  expect(names(got)).toEqual(["a", "b", "c"])
  for (const sub of subs) sub.unsubscribe()
})

it("waits for every announced answer before a quiet gap may end it", async () => {
  // "b" answers only after the gathering connection has received "a" (seen by a spy, then a round
  // trip on that connection): with a quiet gap of 0 ms counted from the first answer it would be left out
  let aReceived: () => void = () => {}
  const aWasReceived = new Promise<void>((resolve) => (aReceived = resolve))
  const subs = [
    answering("g.two", "a"),
    answering("g.two", "b", (msg) => void aWasReceived.then(() => msg.respond("b")))
  ]
  const spy = await connect({ servers: nats.url })
  spy.subscribe("_INBOX.>", {
    callback: (_e, msg) => {
      if (msg.string() === "a") void nc.flush().then(aReceived)
    }
  })
  await spy.flush()
  await nc.flush()
  const got = await gather(nc, "g.two", new Uint8Array(), {
    strategy: "announced",
    count: 2,
    quietMs: 0,
    maxWait: 600_000
  })
  expect(names(got)).toEqual(["a", "b"])
  await spy.close()
  for (const sub of subs) sub.unsubscribe()
})

it("answers an empty list when nobody listens", async () => {
  expect(
    await gather(nc, "g.none", new Uint8Array(), { strategy: "announced", count: 1, quietMs: 10, maxWait: 1_000 })
  ).toEqual([])
})
