// The muxed requester on a real nats-server (with its HTTP monitor): timeouts, no responders, the
// server's max_payload, replies correlated under concurrency, and close (pending fail, inbox gone).
import { type Msg, type NatsConnection, connect as natsConnect, headers as natsHeaders } from "@nats-io/transport-node"
import { Effect } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { type LocalNatsServer, startLocalNatsServer } from "../../../src/cli/natsServer.js"
import { muxedRequester } from "../../../src/client/requester.js"
import { isRetryable } from "../../../src/client/retry.js"
import {
  ConnectionError,
  ERROR_CODE_HEADER,
  errorCodes,
  NoResponders,
  PayloadTooLarge,
  PermissionDenied,
  Timeout
} from "../../../src/protocol/errors.js"

const CLIENT_NAME = "requester-under-test"

let nats: LocalNatsServer
let nc: NatsConnection
let responders: NatsConnection

beforeAll(async () => {
  nats = await startLocalNatsServer({ jetstream: false, monitor: true })
  nc = await natsConnect({ servers: nats.url, name: CLIENT_NAME })
  responders = await natsConnect({ servers: nats.url, name: "responders" })
})

afterAll(async () => {
  await responders?.close()
  await nc?.close()
  await nats?.stop()
})

/** A responder on `subject` that never answers; `received` resolves once `count` requests arrived. */
const silentResponder = async (subject: string, count = 1) => {
  const sizes: Array<number> = []
  const waiting: Array<{ readonly n: number; readonly resolve: () => void }> = []
  /** Resolves once `n` requests arrived. */
  const arrivals = (n: number) =>
    new Promise<void>((resolve) => (sizes.length >= n ? resolve() : waiting.push({ n, resolve })))
  const received = arrivals(count)
  const sub = responders.subscribe(subject, {
    callback: (_error, msg) => {
      sizes.push(msg.data.length)
      for (const w of waiting) if (w.n === sizes.length) w.resolve()
    }
  })
  await responders.flush()
  return { received, arrivals, requests: () => sizes.length, sizes: () => sizes, stop: () => sub.unsubscribe() }
}

/** The subjects the requester's connection is subscribed to, as the server's monitor reports them. */
const serverSideSubscriptions = async (): Promise<ReadonlyArray<string>> => {
  await nc.flush() // the server has processed every SUB/UNSUB sent before this
  const connz = (await (await fetch(`${nats.monitorUrl}/connz?subs=1`)).json()) as {
    connections: Array<{ name?: string; subscriptions_list?: Array<string> }>
  }
  const mine = connz.connections.filter((c) => c.name === CLIENT_NAME)
  expect(mine).toHaveLength(1)
  return mine[0]!.subscriptions_list ?? []
}

const failureOf = <E>(effect: Effect.Effect<unknown, E>) => Effect.runPromise(Effect.flip(effect))

describe("the muxed requester", () => {
  it("fails a request nobody answers in time with Timeout naming the subject and timeoutMs", async () => {
    const silent = await silentResponder("test.silent")
    const requester = muxedRequester(nc)
    const error = await failureOf(requester.request("test.silent", new Uint8Array([1]), 50))
    expect(error).toBeInstanceOf(Timeout)
    expect(error).toMatchObject({
      _tag: "Timeout",
      subject: "test.silent",
      timeoutMs: 50,
      message: "no reply on test.silent within 50 ms"
    })
    await silent.received
    expect(silent.requests()).toBe(1)
    requester.close()
    silent.stop()
  })

  it("abandon fails the requests in flight at once with a retryable Timeout saying why; later ones are unaffected", async () => {
    const silent = await silentResponder("test.lost")
    const requester = muxedRequester(nc)
    const pending = Effect.runPromise(Effect.flip(requester.request("test.lost", new Uint8Array([1]), 60_000)))
    await silent.received
    requester.abandon("the connection to 127.0.0.1:4222 was lost before it came")
    const error = await pending
    expect(error).toBeInstanceOf(Timeout)
    expect(error).toMatchObject({
      subject: "test.lost",
      timeoutMs: 60_000,
      message: "no reply on test.lost: the connection to 127.0.0.1:4222 was lost before it came"
    })
    expect(isRetryable(error)).toBe(true)
    const later = await failureOf(requester.request("test.lost", new Uint8Array([2]), 50))
    expect(later).toMatchObject({ _tag: "Timeout", message: "no reply on test.lost within 50 ms" })
    requester.close()
    silent.stop()
  })

  it("deny fails at once the requests waiting on the refused subject, not retryable; others wait on", async () => {
    const refused = await silentResponder("test.refused")
    const other = await silentResponder("test.other")
    const requester = muxedRequester(nc)
    const onRefused = failureOf(requester.request("test.refused", new Uint8Array([1]), 60_000))
    const onOther = failureOf(requester.request("test.other", new Uint8Array([1]), 300))
    await Promise.all([refused.received, other.received])
    const denied = new PermissionDenied({
      message: "may not publish to test.refused",
      subject: "test.refused",
      operation: "publish"
    })
    requester.deny(denied)
    const error = await onRefused
    expect(error).toBe(denied)
    expect(isRetryable(error)).toBe(false)
    expect(await onOther).toBeInstanceOf(Timeout)
    requester.close()
    refused.stop()
    other.stop()
  })

  it("fails at once with NoResponders when nobody is subscribed to the subject", async () => {
    const requester = muxedRequester(nc)
    const error = await failureOf(requester.request("test.nobody", new Uint8Array([1]), 10_000))
    expect(error).toBeInstanceOf(NoResponders)
    expect(error).toMatchObject({ _tag: "NoResponders", subject: "test.nobody" })
    requester.close()
  })

  it("refuses a body over the server's max_payload with PayloadTooLarge, publishing nothing", async () => {
    const watcher = await silentResponder("test.big")
    const requester = muxedRequester(nc)
    const limit = nc.info!.max_payload
    const error = await failureOf(requester.request("test.big", new Uint8Array(limit + 1), 10_000))
    expect(error).toBeInstanceOf(PayloadTooLarge)
    expect(error).toMatchObject({ _tag: "PayloadTooLarge", limit, size: limit + 1 })
    await Effect.runPromise(Effect.flip(requester.request("test.big", new Uint8Array(limit), 20)))
    // one connection's messages arrive in order: had the refused body been published, it would come first
    await watcher.received
    expect(watcher.sizes()[0]).toBe(limit)
    requester.close()
    watcher.stop()
  })

  it("hands every caller its own reply when replies come back in reverse order", async () => {
    const callers = 200
    const held: Array<Msg> = []
    const sub = responders.subscribe("test.echo", {
      callback: (_error, msg) => {
        held.push(msg)
        if (held.length === callers) for (const m of held.reverse()) m.respond(m.data)
      }
    })
    await responders.flush()
    const requester = muxedRequester(nc)
    const bodies = Array.from({ length: callers }, (_, i) => new TextEncoder().encode(`caller ${i}`))
    const replies = await Effect.runPromise(
      Effect.forEach(bodies, (body) => requester.request("test.echo", body, 10_000), { concurrency: "unbounded" })
    )
    expect(replies.map((msg) => msg.string())).toEqual(bodies.map((b) => new TextDecoder().decode(b)))
    requester.close()
    sub.unsubscribe()
  })

  it("close fails the pending requests with ConnectionError, unsubscribes its inbox, and is idempotent", async () => {
    const silent = await silentResponder("test.pending", 3)
    const without = await serverSideSubscriptions()
    const requester = muxedRequester(nc)
    const inbox = (await serverSideSubscriptions()).filter((s) => !without.includes(s))
    expect(inbox).toEqual([expect.stringMatching(/^_INBOX\.\w+\.\*$/)])

    const pending = Array.from({ length: 3 }, () =>
      failureOf(requester.request("test.pending", new Uint8Array(), 60_000))
    )
    await silent.received
    requester.close()
    for (const error of await Promise.all(pending)) {
      expect(error).toBeInstanceOf(ConnectionError)
      expect(error).toMatchObject({ _tag: "ConnectionError", message: "the client was closed" })
    }
    const after = await serverSideSubscriptions()
    expect(after).not.toContain(inbox[0])
    expect(after).toEqual(without)

    expect(() => requester.close()).not.toThrow()
    const late = await failureOf(requester.request("test.pending", new Uint8Array(), 60_000))
    expect(late).toBeInstanceOf(ConnectionError)
    // a marker published after it on the same connection arrives fourth: the late request never went out
    nc.publish("test.pending", new Uint8Array([7, 7, 7]))
    await silent.arrivals(4)
    expect(silent.sizes()).toEqual([0, 0, 0, 3])
    expect(nc.isClosed()).toBe(false)
    silent.stop()
  })

  it("hedges an attempt its first copy has not answered: the copy's reply wins, the late first reply is dropped", async () => {
    const copies: Array<Msg> = []
    const sub = responders.subscribe("test.hedged", {
      callback: (_error, msg) => {
        copies.push(msg)
        // the second copy is answered at once; the first only after it
        if (copies.length === 2) {
          msg.respond(new TextEncoder().encode("second"))
          copies[0]!.respond(new TextEncoder().encode("first"))
        }
      }
    })
    await responders.flush()
    const replied: Array<{ ms: number; hedged: boolean }> = []
    let asked = 0
    const requester = muxedRequester(nc, {
      replied: (ms, hedged) => replied.push({ ms, hedged }),
      hedge: () => ++asked > 0
    })
    const raw = { read: (msg: Msg) => Effect.succeed(msg.string()), noResponders: Effect.fail }
    const reply = await Effect.runPromise(
      requester.requestWith("test.hedged", new Uint8Array([1]), 10_000, undefined, raw, 30)
    )
    expect(reply).toBe("second")
    expect(asked).toBe(1)
    expect(copies.map((m) => Array.from(m.data))).toEqual([[1], [1]])
    expect(replied).toHaveLength(1)
    expect(replied[0]!.hedged).toBe(true)
    // the copy's latency counts from the copy's own send, not the first's
    await nc.flush()
    expect(replied).toHaveLength(1)
    requester.close()
    sub.unsubscribe()
  })

  it("sends no copy when the owner's budget has none, and tells the owner of timeouts", async () => {
    const silent = await silentResponder("test.unbudgeted")
    let asked = 0
    let timedOut = 0
    const requester = muxedRequester(nc, {
      hedge: () => {
        asked++
        return false
      },
      timedOut: () => timedOut++
    })
    const raw = { read: (msg: Msg) => Effect.succeed(msg), noResponders: Effect.fail }
    const error = await failureOf(
      requester.requestWith("test.unbudgeted", new Uint8Array([1]), 150, undefined, raw, 20)
    )
    expect(error).toBeInstanceOf(Timeout)
    expect(asked).toBe(1)
    expect(silent.requests()).toBe(1)
    expect(timedOut).toBe(1)
    requester.close()
    silent.stop()
  })

  it("sends no copy when the hedge would come after the attempt's own timeout", async () => {
    const silent = await silentResponder("test.late-hedge")
    let asked = 0
    const requester = muxedRequester(nc, { hedge: () => ++asked > 0 })
    const raw = { read: (msg: Msg) => Effect.succeed(msg), noResponders: Effect.fail }
    expect(
      await failureOf(requester.requestWith("test.late-hedge", new Uint8Array([1]), 50, undefined, raw, 50))
    ).toBeInstanceOf(Timeout)
    expect(asked).toBe(0)
    requester.close()
    silent.stop()
  })

  it("sends the hedge where `hedgeTo` says then; a copy refused as Overloaded leaves the call to the other", async () => {
    const firsts: Array<Msg> = []
    const first = responders.subscribe("test.directed-first", { callback: (_e, msg) => void firsts.push(msg) })
    const hedge = responders.subscribe("test.directed-hedge", {
      callback: (_e, msg) => {
        // the first copy is refused by a full replica before the hedge's reply comes
        firsts[0]!.respond(new Uint8Array(), { headers: overloadedHeaders() })
        setTimeout(() => msg.respond(new TextEncoder().encode("hedge")), 20)
      }
    })
    await responders.flush()
    let named = 0
    const requester = muxedRequester(nc, { hedge: () => true })
    const raw = { read: (msg: Msg) => Effect.succeed(msg.string()), noResponders: Effect.fail }
    const reply = await Effect.runPromise(
      requester.requestWith("test.directed-first", new Uint8Array([1]), 10_000, undefined, raw, 30, () => {
        named++
        return "test.directed-hedge"
      })
    )
    expect(reply).toBe("hedge")
    expect([named, firsts.length]).toEqual([1, 1])
    requester.close()
    first.unsubscribe()
    hedge.unsubscribe()
  })

  it("still times out a call whose first copy was refused and whose hedge never answers", async () => {
    const firsts: Array<Msg> = []
    const first = responders.subscribe("test.refused-first", { callback: (_e, msg) => void firsts.push(msg) })
    const silent = await silentResponder("test.silent-hedge")
    const requester = muxedRequester(nc, { hedge: () => true })
    const raw = { read: (msg: Msg) => Effect.succeed(msg), noResponders: Effect.fail }
    const outcome = failureOf(
      requester.requestWith(
        "test.refused-first",
        new Uint8Array([1]),
        2_000,
        undefined,
        raw,
        20,
        () => "test.silent-hedge"
      )
    )
    await silent.received
    firsts[0]!.respond(new Uint8Array(), { headers: overloadedHeaders() })
    const error = await outcome
    expect(error).toBeInstanceOf(Timeout)
    expect(error).toMatchObject({ subject: "test.refused-first", timeoutMs: 2_000 })
    requester.close()
    first.unsubscribe()
    silent.stop()
  })

  it("a hedge that finds nobody on its subject leaves the call to the first copy", async () => {
    const sub = responders.subscribe("test.first-answers", {
      callback: (_e, msg) => void setTimeout(() => msg.respond(new TextEncoder().encode("first")), 80)
    })
    await responders.flush()
    const requester = muxedRequester(nc, { hedge: () => true })
    const raw = { read: (msg: Msg) => Effect.succeed(msg.string()), noResponders: Effect.fail }
    const reply = await Effect.runPromise(
      requester.requestWith("test.first-answers", new Uint8Array([1]), 10_000, undefined, raw, 20, () => "test.nobody")
    )
    expect(reply).toBe("first")
    requester.close()
    sub.unsubscribe()
  })
})

/** The headers of a replica's Overloaded refusal (a NATS micro service error, 503). */
const overloadedHeaders = () => {
  const h = natsHeaders()
  h.set(ERROR_CODE_HEADER, String(errorCodes.Overloaded))
  return h
}
