// The client's hedging and attempt timeouts, end to end on a real nats-server with a scripted replica
// (it answers in msgpack like an actor, and can be told to hold a request): a held request is answered
// by its hedge; `hedge: false` per call or per client sends no copy; stats and the metric count them.
import { type Msg, type NatsConnection, connect as natsConnect } from "@nats-io/transport-node"
import { Effect } from "effect"
import * as Metric from "effect/Metric"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { type LocalNatsServer, startLocalNatsServer } from "../../../src/cli/natsServer.js"
import { clientMetrics, makeModelClient } from "../../../src/client/ModelClient.js"
import { type Client, connect } from "../../../src/client/promise.js"
import { encodeReply, encodingOfMessage } from "../../../src/protocol/codec.js"

let nats: LocalNatsServer
let replica: NatsConnection
/** Requests the replica holds instead of answering (counted down as they arrive). */
let holdNext = 0
let received = 0

const answer = (msg: Msg) =>
  msg.respond(
    encodeReply(
      { outputs: { dtype: "float32", shape: [1, 1], data: new Float32Array([1]) }, model: "m", version: 1, actor: "a" },
      encodingOfMessage(msg)
    )
  )

beforeAll(async () => {
  nats = await startLocalNatsServer({ jetstream: false })
  replica = await natsConnect({ servers: nats.url })
  const take = (_e: unknown, msg: Msg) => {
    received++
    if (holdNext > 0) holdNext--
    else answer(msg)
  }
  // the model's queue group, and the replica's own subject (where retries and hedges go), as an actor serves them
  replica.subscribe("modelbus.infer.m", { queue: "m", callback: take })
  replica.subscribe("modelbus.infer.m.a", { callback: take })
  await replica.flush()
})

afterAll(async () => {
  await replica?.close()
  await nats?.stop()
})

/** A client that has seen enough replies to hedge (64 quick ones). */
const warmClient = async (options: Parameters<typeof connect>[0] = {}): Promise<Client> => {
  const client = await connect({ servers: nats.url, ...options })
  for (let i = 0; i < 64; i++) await client.infer("m", [[1]])
  return client
}

describe("hedged attempts through the client", () => {
  it("answers a request its replica holds with a hedged copy, long before the attempt timeout", async () => {
    const client = await warmClient()
    try {
      const before = client.stats()
      expect(before.p99Ms).toBeDefined()
      holdNext = 1
      const sent = received
      const started = performance.now()
      await client.infer("m", [[1]])
      const took = performance.now() - started
      const after = client.stats()
      expect(received - sent).toBe(2)
      expect([after.hedges - before.hedges, after.hedgesWon - before.hedgesWon]).toEqual([1, 1])
      expect(after.retries).toBe(before.retries)
      console.log(
        `held request answered by its hedge after ${took.toFixed(1)} ms (client p99 ${after.p99Ms?.toFixed(2)} ms)`
      )
    } finally {
      await client.close()
    }
  })

  it("sends no copy with `hedge: false` on the call: the held request is tried again after its attempt timeout", async () => {
    const client = await warmClient()
    try {
      const before = client.stats()
      holdNext = 1
      await client.infer("m", [[1]], { hedge: false })
      const after = client.stats()
      expect([after.hedges - before.hedges, after.retries - before.retries]).toEqual([0, 1])
    } finally {
      await client.close()
    }
  })

  it("sends no copy from a client made with `hedge: false`", async () => {
    const client = await warmClient({ hedge: false })
    try {
      holdNext = 1
      await client.infer("m", [[1]])
      expect(client.stats()).toMatchObject({ hedges: 0, retries: 1 })
    } finally {
      await client.close()
    }
  })

  it("adds the hedges to the modelbus_client_hedges_total metric", async () => {
    const program = Effect.scoped(
      Effect.gen(function* () {
        const client = yield* makeModelClient({ servers: nats.url })
        for (let i = 0; i < 64; i++) yield* client.infer("m", [[1]])
        holdNext = 1
        yield* client.infer("m", [[1]])
        yield* client.infer("m", [[1]]) // the metric takes the hedges counted since the call before
        return client.stats().hedges
      })
    )
    const [hedges, metric] = await Effect.runPromise(
      Effect.gen(function* () {
        const before = (yield* Metric.value(clientMetrics.hedges)).count
        const hedges = yield* program
        const after = (yield* Metric.value(clientMetrics.hedges)).count
        return [hedges, after - before] as const
      })
    )
    expect(hedges).toBe(1)
    expect(metric).toBe(1)
  })
})
