// Client retries on a real nats-server: NoResponders until a supervisor comes up, Overloaded and
// silent responders written with raw NATS, non-retryable errors sent once, attempts on the errors.
import { headers, type Msg, type NatsConnection, connect as natsConnect } from "@nats-io/transport-node"
import { Effect, Metric } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { type LocalNatsServer, startLocalNatsServer } from "../../src/cli/natsServer.js"
import {
  BadInput,
  type Client,
  type ClientOptions,
  connect,
  type HostTensor,
  ModelClient,
  NoResponders,
  Overloaded,
  Timeout
} from "../../src/client/index.js"
import { clientMetrics } from "../../src/client/ModelClient.js"
import { encodeError, encodeReply } from "../../src/protocol/codec.js"
import { ERROR_CODE_HEADER, ERROR_HEADER, errorCodes, type ServiceError } from "../../src/protocol/errors.js"
import { type CliProcess, eventually, IRIS_MODEL, startSupervisor } from "../helpers/processes.js"

let nats: LocalNatsServer
let raw: NatsConnection
const clients: Array<Client> = []
const supervisors: Array<CliProcess> = []

beforeAll(async () => {
  nats = await startLocalNatsServer()
  raw = await natsConnect({ servers: nats.url })
})

afterAll(async () => {
  for (const c of clients) await c.close()
  for (const s of supervisors) expect((await s.stop()).code).toBe(0)
  await raw?.close()
  await nats?.stop()
})

/** A fresh Promise client (its own counters), closed after the file. */
const client = async (options: Omit<ClientOptions, "servers"> = {}) => {
  const c = await connect({ servers: nats.url, ...options })
  clients.push(c)
  return c
}

const errorReply = (msg: Msg, error: ServiceError) => {
  const h = headers()
  h.set(ERROR_CODE_HEADER, String(errorCodes[error._tag]))
  h.set(ERROR_HEADER, error.message)
  msg.respond(encodeError(error, "msgpack"), { headers: h })
}

const okReply = (msg: Msg, model: string) =>
  msg.respond(
    encodeReply(
      {
        outputs: { dtype: "float32", shape: [1, 1], data: new Float32Array([42]) },
        model,
        version: 1,
        actor: `${model}-1@test`
      },
      "msgpack"
    )
  )

/** A raw NATS responder on `modelbus.infer.<model>` answering request n (1-based) with `answer(msg, n)`. */
const responder = async (model: string, answer: (msg: Msg, n: number) => void) => {
  let n = 0
  const sub = raw.subscribe(`modelbus.infer.${model}`, { callback: (_err, msg) => answer(msg, ++n) })
  await raw.flush()
  return { requests: () => n, stop: () => sub.unsubscribe() }
}

const rejection = async (promise: Promise<unknown>): Promise<unknown> => {
  try {
    await promise
  } catch (error) {
    return error
  }
  throw new Error("expected a rejection")
}

describe("retries of NoResponders", () => {
  it("keeps trying until a supervisor starts serving the model", async () => {
    const c = await client({ retry: { attempts: 400, initialDelayMs: 25, maxDelayMs: 100 } })
    const reply = c.infer("late", [[5.1, 3.5, 1.4, 0.2]])
    await eventually(async () => (c.stats().attempts >= 1 ? true : undefined), 5_000, "the first attempt")
    supervisors.push(await startSupervisor(nats.url, { models: [{ name: "late", path: IRIS_MODEL, replicas: 1 }] }))
    const answer = await reply
    expect(answer.model).toBe("late")
    expect((answer.outputs as HostTensor).shape).toEqual([1, 3])
    const stats = c.stats()
    expect(stats.requests).toBe(1)
    expect(stats.failures).toBe(0)
    expect(stats.retries).toBeGreaterThan(0)
    expect(stats.attempts).toBe(stats.retries + 1)
    console.log(`NoResponders retried ${stats.retries} times while the supervisor started`)
  }, 90_000)

  it("ends in NoResponders carrying the attempts when nobody ever serves", async () => {
    const c = await client({ retry: { attempts: 3, initialDelayMs: 5, maxDelayMs: 10 } })
    const error = await rejection(c.infer("nobody", [[1]]))
    expect(error).toBeInstanceOf(NoResponders)
    expect(error).toMatchObject({ _tag: "NoResponders", attempts: 3, subject: "modelbus.infer.nobody" })
    expect(c.stats()).toEqual({
      requests: 1,
      attempts: 3,
      retries: 2,
      failures: 1,
      hedges: 0,
      hedgesWon: 0,
      p99Ms: undefined
    })
  })
})

describe("retries against raw responders", () => {
  it("retries Overloaded replies and succeeds on the third attempt", async () => {
    const flaky = await responder("flaky", (msg, n) =>
      n <= 2 ? errorReply(msg, new Overloaded({ message: "admission limit reached" })) : okReply(msg, "flaky")
    )
    const c = await client({ retry: { initialDelayMs: 5 } })
    const before = await Effect.runPromise(Metric.value(clientMetrics.retries))
    const reply = await c.infer("flaky", [[1]])
    expect(Array.from((reply.outputs as HostTensor).data as Float32Array)).toEqual([42])
    expect(flaky.requests()).toBe(3)
    expect(c.stats()).toEqual({
      requests: 1,
      attempts: 3,
      retries: 2,
      failures: 0,
      hedges: 0,
      hedgesWon: 0,
      p99Ms: undefined
    })
    const after = await Effect.runPromise(Metric.value(clientMetrics.retries))
    expect(after.count - before.count).toBeGreaterThanOrEqual(2)
    flaky.stop()
  })

  it("sends a request that gets BadInput exactly once", async () => {
    const bad = await responder("strict", (msg) =>
      errorReply(msg, new BadInput({ message: "expected shape [?, 4], received [1, 1]" }))
    )
    const c = await client({ retry: { attempts: 10, initialDelayMs: 5 } })
    const error = await rejection(c.infer("strict", [[1]]))
    expect(error).toBeInstanceOf(BadInput)
    expect(error).not.toHaveProperty("attempts")
    // the call has settled, so every attempt it made has been answered: a retry would count here
    expect(bad.requests()).toBe(1)
    expect(c.stats()).toEqual({
      requests: 1,
      attempts: 1,
      retries: 0,
      failures: 1,
      hedges: 0,
      hedgesWon: 0,
      p99Ms: undefined
    })
    bad.stop()
  })

  it("times out each attempt and ends in Timeout carrying the attempts, after attempts × attemptTimeoutMs", async () => {
    const silent = await responder("silent", () => {})
    const c = await client({ retry: { attempts: 3, attemptTimeoutMs: 200, initialDelayMs: 10, maxDelayMs: 20 } })
    const started = performance.now()
    const error = await rejection(c.infer("silent", [[1]]))
    const elapsed = performance.now() - started
    expect(error).toBeInstanceOf(Timeout)
    expect(error).toMatchObject({ _tag: "Timeout", attempts: 3, timeoutMs: 200 })
    expect(silent.requests()).toBe(3)
    // A floor only (a slow machine may take longer): each of the 3 attempts waited its 200 ms.
    expect(elapsed).toBeGreaterThanOrEqual(3 * 200)
    silent.stop()
  })

  it("lets a call override the client's policy, and InferOptions.timeoutMs set each attempt's timeout", async () => {
    const silent = await responder("quiet", () => {})
    const c = await client({ retry: false, timeoutMs: 2_000 })
    const error = await rejection(
      c.infer("quiet", [[1]], { timeoutMs: 100, retry: { attempts: 4, initialDelayMs: 1, maxDelayMs: 1 } })
    )
    expect(error).toMatchObject({ _tag: "Timeout", attempts: 4, timeoutMs: 100 })
    expect(silent.requests()).toBe(4)
    silent.stop()
  })
})

describe("the errors a caller finally sees", () => {
  it("Promise façade: the same classes, with attempts, and attempts 1 when retry is off", async () => {
    const busy = await responder("busy", (msg) =>
      errorReply(msg, new Overloaded({ message: "admission limit reached" }))
    )
    const c = await client({ retry: { attempts: 4, initialDelayMs: 1, maxDelayMs: 5 } })
    const overloaded = await rejection(c.infer("busy", [[1]]))
    expect(overloaded).toBeInstanceOf(Overloaded)
    expect(overloaded).toMatchObject({ _tag: "Overloaded", attempts: 4, message: "admission limit reached" })
    expect(busy.requests()).toBe(4)

    const once = await rejection(c.infer("busy", [[1]], { retry: false }))
    expect(once).toMatchObject({ _tag: "Overloaded", attempts: 1 })
    expect(busy.requests()).toBe(5)
    const none = await rejection(c.infer("nobody", [[1]], { retry: false }))
    expect(none).toBeInstanceOf(NoResponders)
    expect(none).toMatchObject({ attempts: 1 })

    const many = await rejection(c.inferMany("busy", [[[1]], [[2]]], { retry: { attempts: 2 } }))
    expect(many).toMatchObject({ _tag: "Overloaded", attempts: 2 })
    busy.stop()
  })

  it("Effect client: fails with the tagged class carrying attempts, and counts in stats()", async () => {
    const program = Effect.gen(function* () {
      const client = yield* ModelClient
      const error = yield* Effect.flip(client.infer("nobody", [[1]]))
      return { error, stats: client.stats() }
    }).pipe(Effect.provide(ModelClient.layer({ servers: nats.url, retry: { attempts: 3, initialDelayMs: 1 } })))
    const { error, stats } = await Effect.runPromise(program)
    expect(error).toBeInstanceOf(NoResponders)
    expect(error).toMatchObject({ _tag: "NoResponders", attempts: 3 })
    expect(stats).toEqual({
      requests: 1,
      attempts: 3,
      retries: 2,
      failures: 1,
      hedges: 0,
      hedgesWon: 0,
      p99Ms: undefined
    })
  })
})
