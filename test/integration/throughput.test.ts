// Batching, admission control and deadlines in real actors: batched answers equal unbatched ones,
// one bad input never fails its neighbours, a full replica is routed around, late requests get 504.
import type { NatsConnection } from "@nats-io/transport-node"
import { Packr } from "msgpackr"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { BadInput, type Client, type HostTensor, NoResponders, Overloaded } from "../../src/client/index.js"
import { eventually, IRIS_MODEL, irisRows } from "../helpers/processes.js"
import { type Stack, startStack } from "../helpers/stack.js"

let stack: Stack
let client: Client
let raw: NatsConnection
let rows: Array<Array<number>>
const packr = new Packr({ useRecords: false })

/** `n` Iris rows as one request's float32 tensor: a request that takes a while to run. */
const heavy = (n: number) => ({
  dtype: "float32" as const,
  shape: [n, 4],
  data: Float32Array.from({ length: n * 4 }, (_, i) => rows[(i >> 2) % 150]![i % 4]!)
})

beforeAll(async () => {
  stack = await startStack(
    {
      models: [
        { name: "batched", path: IRIS_MODEL, batching: { maxBatchSize: 64, maxDelayMs: 20 } },
        { name: "unbatched", path: IRIS_MODEL, batching: { maxBatchSize: 1 } },
        { name: "guarded", path: IRIS_MODEL, maxInflight: 2, batching: { maxBatchSize: 1 } }
      ]
    },
    // every request counted exactly once: no hedged second copies
    { hedge: false }
  )
  client = stack.client
  raw = stack.raw
  rows = await irisRows()
})

afterAll(async () => {
  expect((await stack?.stop())?.code).toBe(0)
})

const actor = async (model: string) => (await client.status()).flatMap((s) => s.actors).find((a) => a.model === model)!

describe("dynamic batching", () => {
  it("answers a burst of mixed good and bad requests in few model calls, each exactly as unbatched", async () => {
    const requests = Array.from({ length: 60 }, (_, i) =>
      i % 7 === 3 ? { good: false, inputs: [[1, 2, 3]] } : { good: true, inputs: rows.slice(i, i + 1 + (i % 3)) }
    )
    const expected = await Promise.all(requests.map((r) => (r.good ? client.infer("unbatched", r.inputs) : undefined)))
    const before = await actor("batched")
    const outcomes = await Promise.allSettled(requests.map((r) => client.infer("batched", r.inputs)))
    outcomes.forEach((o, i) => {
      if (!requests[i]!.good) {
        expect(o.status).toBe("rejected")
        expect((o as PromiseRejectedResult).reason).toBeInstanceOf(BadInput)
        return
      }
      expect(o.status).toBe("fulfilled")
      const got = (o as PromiseFulfilledResult<{ outputs: HostTensor }>).value.outputs
      const want = expected[i]!.outputs as HostTensor
      expect(got.shape).toEqual(want.shape)
      expect(Array.from(got.data as Float32Array)).toEqual(Array.from(want.data as Float32Array))
    })
    const good = requests.filter((r) => r.good).length
    const after = await eventually(
      async () => {
        const a = await actor("batched")
        return a.served - before.served >= good ? a : undefined
      },
      5_000,
      "the heartbeat after the burst"
    )
    expect(after.served - before.served).toBe(good)
    expect(after.calls! - before.calls!).toBeLessThan(good / 4)
  })
})

describe("admission control", () => {
  it("refuses past maxInflight with Overloaded, leaves the queue group, and rejoins when it has room", async () => {
    // many mid-sized requests in one burst: several arrive in each socket read, faster than they run
    const burst = await Promise.allSettled(
      Array.from({ length: 200 }, () => client.infer("guarded", heavy(500), { retry: false, timeoutMs: 20_000 }))
    )
    const refused = burst.filter((o) => o.status === "rejected").map((o) => (o as PromiseRejectedResult).reason)
    expect(burst.filter((o) => o.status === "fulfilled").length).toBeGreaterThanOrEqual(2)
    // delivered while it was full: Overloaded; published while the lone replica was out of its queue
    // group (a loaded machine sends the burst in several writes): NoResponders, which NATS answers
    expect(refused.some((e) => e instanceof Overloaded)).toBe(true)
    for (const e of refused) {
      expect([Overloaded, NoResponders].some((type) => e instanceof type)).toBe(true)
      expect(e.attempts).toBe(1)
    }
    // it came back: the queue group routes to it again
    expect((await client.infer("guarded", [rows[0]!], { retry: false })).model).toBe("guarded")
    const presence = await raw.request("modelbus.presence.guarded", undefined, { timeout: 2_000 })
    expect(presence.json<{ joined: boolean }>().joined).toBe(true)
  })

  it("with the default retry policy, a burst on full replicas ends with every request answered", async () => {
    await client.scale("guarded", 2)
    await eventually(
      async () => {
        const actors = (await client.status()).flatMap((s) => s.actors).filter((a) => a.model === "guarded")
        return actors.length === 2 && actors.every((a) => a.state === "serving") ? true : undefined
      },
      10_000,
      "two serving replicas"
    )
    const replies = await Promise.all(
      Array.from({ length: 24 }, () =>
        client.infer("guarded", heavy(20_000), { timeoutMs: 20_000, retry: { attempts: 20, maxDelayMs: 200 } })
      )
    )
    expect(replies).toHaveLength(24)
    expect(new Set(replies.map((r) => r.actor)).size).toBe(2)
  })
})

describe("payload limit", () => {
  it("refuses a body over the server's max_payload on the client with PayloadTooLarge", async () => {
    const error = await client.infer("unbatched", heavy(100_000)).catch((e: unknown) => e)
    expect(error).toMatchObject({ _tag: "PayloadTooLarge", limit: 1024 * 1024 })
  })
})

describe("deadlines", () => {
  it("drops a request whose deadline passed before it could run: 504 DeadlineExceeded, not computed", async () => {
    const before = await actor("unbatched")
    // both on one connection, so the blocker arrives first and the late one waits behind it
    const blocker = raw.request("modelbus.infer.unbatched", packr.pack({ inputs: heavy(50_000) }), { timeout: 20_000 })
    const late = raw.request("modelbus.infer.unbatched", packr.pack({ inputs: [rows[0]], timeoutMs: 0.5 }), {
      timeout: 20_000
    })
    const [, reply] = await Promise.all([blocker, late])
    expect(reply.headers?.get("Nats-Service-Error-Code")).toBe("504")
    const body = packr.unpack(reply.data)
    expect(body.error._tag).toBe("DeadlineExceeded")
    expect(body.error.message).toMatch(/deadline passed/)
    const after = await eventually(
      async () => {
        const a = await actor("unbatched")
        return a.calls! > before.calls! ? a : undefined
      },
      5_000,
      "the heartbeat"
    )
    expect(after.calls! - before.calls!).toBe(1)
  })
})
