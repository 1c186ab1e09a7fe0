// Retries and hedges sent to a replica the client heard from, on a real stack: two iris replicas, a
// member of the queue group that swallows what it is sent (a replica on a host cut off), and one that
// answers naming a replica nobody serves (a replica gone since). Every attempt is watched on the wire:
// a retry after a swallowed attempt goes to a named replica's own subject; a directed attempt that
// is refused (nobody there) is followed by one to the queue group. A plain request on an actor's own
// subject is answered by that actor; once the actor drained (scaled away), nobody answers there.
import type { Msg, Subscription } from "@nats-io/transport-node"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { type Client, connect } from "../../src/client/index.js"
import { decodeReply, decodeRequest, encodeReply, encodeRequest } from "../../src/protocol/codec.js"
import { BadInput } from "../../src/protocol/errors.js"
import { subjects } from "../../src/protocol/subjects.js"
import { eventually, IRIS_MODEL } from "../helpers/processes.js"
import { type Stack, startStack } from "../helpers/stack.js"

const MODEL = "iris"
const GHOST = "iris-9@gone"
const s = subjects()

let stack: Stack
/** A client that hedges and never retries: every second message of its calls is a hedge. */
let hedger: Client
let row = 0
let actors: ReadonlyArray<string>
const subs: Array<Subscription> = []

/** How many of each call's attempts the swallowing member of the queue group took. */
const swallowed = new Map<string, number>()
/** Each call's attempts in the order they went out: "group", or the actor whose own subject took it. */
const attemptsOf = new Map<string, Array<string>>()
const keyOf = (msg: Msg) => Buffer.from(msg.data).toString("base64")
const note = (msg: Msg, where: string) => {
  const key = keyOf(msg)
  const seen = attemptsOf.get(key)
  if (seen === undefined) attemptsOf.set(key, [where])
  else seen.push(where)
}

beforeAll(async () => {
  // hedging off: every second message of a call is a retry
  stack = await startStack({ models: [{ name: MODEL, path: IRIS_MODEL, replicas: 2 }] }, { hedge: false })
  const statuses = await eventually(
    async () => {
      const all = (await stack.client.status()).flatMap((st) =>
        st.actors.filter((a) => a.model === MODEL && a.state === "serving")
      )
      return all.length === 2 ? all : undefined
    },
    60_000,
    "two iris replicas serving"
  )
  actors = statuses.map((a) => a.id)
  // the client has seen enough replies to time an attempt out after a fraction of a second, not the whole ceiling
  hedger = await connect({ servers: stack.nats.url, retry: false, timeoutMs: 1_000 })
  for (const client of [stack.client, hedger]) {
    for (let i = 0; i < 64; i++) await client.infer(MODEL, [[5.1, 3.5, 1.4, 0.2]])
    expect(client.stats().p99Ms).toBeDefined()
  }
  const { raw } = stack
  // watchers (no queue group): every attempt to the group and to any replica's own subject
  subs.push(raw.subscribe(s.infer(MODEL), { callback: (_e, msg) => note(msg, "group") }))
  subs.push(
    raw.subscribe(`${s.infer(MODEL)}.*`, {
      callback: (_e, msg) => {
        const actor = [...actors, GHOST].find((a) => s.inferActor(MODEL, a) === msg.subject)
        note(msg, actor ?? msg.subject)
      }
    })
  )
  // two more members of the queue group: one swallows, one answers as a replica that serves no subject of its own
  subs.push(
    raw.subscribe(s.infer(MODEL), {
      queue: s.inferQueue(MODEL),
      callback: (_e, msg) => void swallowed.set(keyOf(msg), (swallowed.get(keyOf(msg)) ?? 0) + 1)
    })
  )
  subs.push(
    raw.subscribe(s.infer(MODEL), {
      queue: s.inferQueue(MODEL),
      callback: (_e, msg) => {
        msg.respond(
          encodeReply(
            {
              outputs: { dtype: "float32", shape: [1, 3], data: new Float32Array([0, 0, 1]) },
              model: MODEL,
              version: 1,
              actor: GHOST
            },
            "msgpack"
          )
        )
      }
    })
  )
  await raw.flush()
}, 120_000)

afterAll(async () => {
  for (const sub of subs) sub.unsubscribe()
  await hedger?.close()
  if (stack !== undefined) expect((await stack.stop()).code).toBe(0)
})

/** The first input value of the request in `key` (a message's body): the call's row id. */
const callOf = (key: string): number | undefined => {
  const request = decodeRequest(Buffer.from(key, "base64"), "msgpack")
  if (request instanceof BadInput) return undefined
  const input = request.inputs.kind === "single" ? request.inputs.value : Object.values(request.inputs.values)[0]
  if (input === undefined) return undefined
  return Number(input.kind === "tensor" ? input.tensor.data[0] : input.values[0])
}

/** What followed each directed attempt to `actor` in the calls seen so far. */
const followingAttempts = (actor: string) =>
  [...attemptsOf.values()].flatMap((seq) =>
    seq.flatMap((where, i) => (where === actor && i + 1 < seq.length ? [seq[i + 1]!] : []))
  )

/** What followed each swallowed attempt: the retry of an attempt to the group that got no reply. */
const retriesOfSwallowed = () =>
  [...attemptsOf.values()].flatMap((seq) =>
    seq.flatMap((where, i) => (where === "group" && i + 1 < seq.length ? [seq[i + 1]!] : []))
  )

describe("retries sent to a replica heard from", () => {
  it("sends a retry to a named replica's own subject, and after a refused directed attempt to the group", async () => {
    // A call fails only when every attempt was lost: each one to the group taken by the swallowing member,
    // each directed one sent to the gone replica (refused). With both in the group that can happen (rarely).
    const failed: Array<number> = []
    const call = async () => {
      const id = ++row
      await stack.client.infer(MODEL, [[id, 1, 1, 1]]).catch(() => failed.push(id))
    }
    // until a retry reached each live replica and a directed attempt found nobody at least 3 times
    await eventually(
      async () => {
        for (let i = 0; i < 20; i++) await call()
        const toActors = retriesOfSwallowed().filter((w) => actors.includes(w)).length
        return toActors >= 3 && followingAttempts(GHOST).length >= 3 ? true : undefined
      },
      120_000,
      "retries to named replicas and refused directed attempts"
    )
    const stats = stack.client.stats()
    expect(stats.failures).toBe(failed.length)
    for (const id of failed) {
      const attempts = [...attemptsOf.entries()].find(([key]) => callOf(key) === id)
      expect(attempts, "a failed call's attempts were seen").toBeDefined()
      const [seen, where] = attempts!
      expect({ where, swallowed: swallowed.get(seen) ?? 0 }).toEqual({
        where,
        swallowed: where.filter((w) => w === "group").length
      })
      expect(where.filter((w) => w !== "group").every((w) => w === GHOST)).toBe(true)
    }
    // every attempt that went to a replica's own subject named a replica the client had heard from
    const directed = [...attemptsOf.values()].flat().filter((w) => w !== "group")
    expect(new Set(directed).size).toBeGreaterThan(0)
    for (const where of directed) expect([...actors, GHOST]).toContain(where)
    // a directed attempt that got no answer is followed by one to the queue group
    expect(new Set(followingAttempts(GHOST))).toEqual(new Set(["group"]))
    console.log(
      `calls ${stats.requests}, retries ${stats.retries}; directed attempts: ${directed.length}, to the gone replica ${followingAttempts(GHOST).length}`
    )
  }, 180_000)

  it("sends a hedge of an attempt to the group to a named replica's own subject", async () => {
    const hedgedTo = () =>
      [...attemptsOf.entries()].flatMap(([key, seq]) => (mine.has(key) && seq.length > 1 ? [seq[1]!] : []))
    const mine = new Set<string>()
    await eventually(
      async () => {
        const calls = Array.from({ length: 20 }, () => [++row, 2, 2, 2])
        for (const rows of calls) {
          mine.add(Buffer.from(encodeRequest([rows], undefined, "msgpack", 1_000)).toString("base64"))
          await hedger.infer(MODEL, [rows]).catch(() => undefined)
        }
        return hedgedTo().filter((w) => actors.includes(w)).length >= 3 ? true : undefined
      },
      120_000,
      "hedges sent to named replicas"
    )
    const stats = hedger.stats()
    expect(stats.retries).toBe(0)
    expect(stats.hedges).toBeGreaterThanOrEqual(3)
    console.log(
      `hedger: calls ${stats.requests}, hedges ${stats.hedges} (won ${stats.hedgesWon}), failures ${stats.failures}`
    )
  }, 180_000)

  it("answers a plain request on an actor's own subject from that actor", async () => {
    for (const actor of actors) {
      const body = encodeRequest([[5.1, 3.5, 1.4, 0.2]], undefined, "msgpack", 5_000)
      const msg = await stack.raw.request(s.inferActor(MODEL, actor), body, { timeout: 10_000 })
      expect(decodeReply(msg.data, "msgpack")).toMatchObject({ kind: "reply", reply: { actor, model: MODEL } })
    }
  })

  it("leaves an actor's own subject when the actor drains: nobody answers there any more", async () => {
    // the watchers, the swallower and the gone replica's stand-in leave first (a watcher is a responder too)
    for (const sub of subs.splice(0)) sub.unsubscribe()
    await stack.raw.flush()
    await stack.client.scale(MODEL, 1)
    const left = await eventually(
      async () => {
        const serving = (await stack.client.status()).flatMap((st) =>
          st.actors.filter((a) => a.model === MODEL).map((a) => a.id)
        )
        return serving.length === 1 ? actors.filter((a) => !serving.includes(a)) : undefined
      },
      60_000,
      "one replica left"
    )
    expect(left).toHaveLength(1)
    const body = encodeRequest([[5.1, 3.5, 1.4, 0.2]], undefined, "msgpack", 5_000)
    const refused = await stack.raw.request(s.inferActor(MODEL, left[0]!), body, { timeout: 10_000 }).then(
      () => "answered",
      (error: Error) => error.message
    )
    expect(refused).toMatch(/no responders/i)
    const staying = actors.find((a) => a !== left[0])!
    const msg = await stack.raw.request(s.inferActor(MODEL, staying), body, { timeout: 10_000 })
    expect(decodeReply(msg.data, "msgpack")).toMatchObject({ kind: "reply", reply: { actor: staying } })
  }, 90_000)
})
