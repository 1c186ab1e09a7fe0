// An actor's admission as its heartbeats report it, forked from dist/ as a supervisor forks it: a burst
// past its limit is refused with Overloaded exactly as often as it counts, it left its queue group to
// do so, nothing stays queued or in flight once all is answered, and SIGTERM drains and exits 0.
import { type ChildProcess, fork } from "node:child_process"
import { join } from "node:path"
import { connect, type NatsConnection } from "@nats-io/transport-node"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { type LocalNatsServer, startLocalNatsServer } from "../../src/cli/natsServer.js"
import { decodeReply, encodeRequest } from "../../src/protocol/codec.js"
import { ACTOR_SETTINGS_ENV, type ActorCounters, type ActorMessage } from "../../src/protocol/ipc.js"
import { IRIS_MODEL, irisRows, ROOT } from "../helpers/processes.js"

let nats: LocalNatsServer
let nc: NatsConnection
let actor: ChildProcess
const messages: Array<ActorMessage> = []
/** Called with each message the actor sends; `nextMessage` sets it. */
let onMessage: ((message: ActorMessage) => void) | undefined

/** The first message from now on that satisfies `test`. */
const nextMessage = <M extends ActorMessage>(test: (message: ActorMessage) => message is M) =>
  new Promise<M>((resolve) => {
    onMessage = (message) => {
      if (!test(message)) return
      onMessage = undefined
      resolve(message)
    }
  })

const isReady = (m: ActorMessage): m is Extract<ActorMessage, { type: "ready" }> => m.type === "ready"

beforeAll(async () => {
  nats = await startLocalNatsServer({ jetstream: false })
  nc = await connect({ servers: nats.url })
  actor = fork(join(ROOT, "dist/actors/main.js"), [], {
    env: {
      ...process.env,
      [ACTOR_SETTINGS_ENV]: JSON.stringify({
        id: "guarded-0",
        model: "guarded",
        path: IRIS_MODEL,
        servers: nats.url,
        prefix: "modelbus",
        version: 1,
        heartbeatMs: 50,
        maxInflight: 2,
        batching: { maxBatchSize: 1, maxDelayMs: 0 }
      })
    },
    stdio: ["ignore", "inherit", "inherit", "ipc"],
    serialization: "advanced"
  })
  actor.on("message", (message) => {
    messages.push(message as ActorMessage)
    onMessage?.(message as ActorMessage)
  })
  await nextMessage(isReady)
})

afterAll(async () => {
  if (actor?.exitCode === null) actor.kill("SIGKILL")
  await nc?.close()
  await nats?.stop()
})

const countersOf = (m: ActorMessage): ActorCounters | undefined => ("counters" in m ? m.counters : undefined)

describe("an actor's admission counters", () => {
  it("counts each Overloaded refusal and each time it left its queue group; all answered, nothing queued", async () => {
    // small requests: the whole burst reaches the actor in a few socket reads, before it can leave its group
    const body = encodeRequest([(await irisRows())[0]!], undefined, "msgpack")
    const burst = await Promise.allSettled(
      Array.from({ length: 150 }, () => nc.request("modelbus.infer.guarded", body, { timeout: 20_000 }))
    )
    const tags = burst.map((o) => {
      if (o.status === "rejected") return "no reply"
      const reply = decodeReply(o.value.data, "msgpack")
      return reply.kind === "error" ? reply.error._tag : reply.kind
    })
    const overloaded = tags.filter((t) => t === "Overloaded").length
    expect(overloaded).toBeGreaterThan(0)
    expect(tags.filter((t) => t === "reply").length).toBeGreaterThanOrEqual(2)
    // the next heartbeat after every reply: what the actor counted
    const settled = await nextMessage(
      (m): m is Extract<ActorMessage, { type: "heartbeat" }> => m.type === "heartbeat" && m.counters.inflight === 0
    )
    expect(settled.counters).toMatchObject({ inflight: 0, queued: 0, overloaded })
    expect(settled.counters.leftQueueGroup).toBeGreaterThanOrEqual(1)
    console.log(
      `150 requests past a limit of 2: ${tags.filter((t) => t === "reply").length} answered, ${overloaded} Overloaded, ` +
        `${tags.filter((t) => t === "no reply").length} with no responder; left its queue group ${settled.counters.leftQueueGroup} times`
    )
    // never more queued than held, never more held than the limit
    for (const counters of messages.map(countersOf)) {
      if (counters === undefined) continue
      expect(counters.queued ?? 0).toBeLessThanOrEqual(counters.inflight)
      expect(counters.inflight).toBeLessThanOrEqual(2)
    }
  })

  it("drains on SIGTERM and exits 0", async () => {
    const exited = new Promise<number | null>((resolve) => actor.once("exit", (code) => resolve(code)))
    actor.kill("SIGTERM")
    expect(await exited).toBe(0)
    expect(messages.some((m) => m.type === "draining")).toBe(true)
  })
})
