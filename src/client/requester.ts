// The client's hot path to the bus: one muxed inbox subscription per client, its own correlation
// by reply token, and one sweep timer for all deadlines and hedges, instead of a `request()` per call.
import { createInbox, type Msg, type MsgHdrs, type NatsConnection } from "@nats-io/transport-node"
import * as Effect from "effect/Effect"
import { permissionDeniedOf } from "../nats/permissions.js"
import {
  ConnectionError,
  ERROR_CODE_HEADER,
  errorCodes,
  NoResponders,
  PayloadTooLarge,
  type PermissionDenied,
  Timeout
} from "../protocol/errors.js"
import { messageOf } from "../protocol/values.js"

export type RequestError = Timeout | NoResponders | ConnectionError | PayloadTooLarge | PermissionDenied

/** What a caller makes of the reply itself, and of NoResponders, inside the request's own step. */
export interface ReplyHandlers<A, E, E2> {
  readonly read: (msg: Msg) => Effect.Effect<A, E>
  readonly noResponders: (error: NoResponders) => Effect.Effect<never, E2>
}

/** What the requester tells its owner as requests settle (the owner keeps the counts and the latency window). */
export interface RequesterHooks {
  /** A reply arrived `ms` after its copy was sent; `hedged` when the hedge's copy answered first. */
  readonly replied?: (ms: number, hedged: boolean) => void
  /** A request's hedge is due: true lets its second copy go out (the owner's budget had one). */
  readonly hedge?: () => boolean
  /** Requests timed out in this sweep (the connection may be dead: the owner probes it). */
  readonly timedOut?: () => void
}

/** How often the sweep runs while requests are pending (the resolution of timeouts and hedges). */
const SWEEP_MS = 10

export interface Requester {
  /** Publishes `body` to `subject` with a reply token and waits for the reply, or a typed failure. */
  readonly request: (
    subject: string,
    body: Uint8Array,
    timeoutMs: number,
    headers?: MsgHdrs
  ) => Effect.Effect<Msg, RequestError>
  /**
   * The same, succeeding with what `read` makes of the reply (decoded as it arrives) and failing with
   * what `noResponders` makes of NoResponders. With `hedgeAfterMs`, a second copy goes out when the
   * first has not answered by then (if the owner's `hedge` hook agrees), to the subject `hedgeTo` names
   * then (default: the same); the first reply wins, except that a copy finding nobody (NoResponders) or
   * a full replica (Overloaded) leaves the decision to the other while it is still out.
   */
  readonly requestWith: <A, E, E2>(
    subject: string,
    body: Uint8Array,
    timeoutMs: number,
    headers: MsgHdrs | undefined,
    handlers: ReplyHandlers<A, E, E2>,
    hedgeAfterMs?: number,
    hedgeTo?: () => string
  ) => Effect.Effect<A, E | E2 | Exclude<RequestError, NoResponders>>
  /** Fails every pending request (and any later one) with ConnectionError and unsubscribes the inbox; idempotent. */
  readonly close: () => void
  /**
   * Gives up on the requests in flight because their replies cannot come (the connection was lost):
   * each fails at once with a retryable Timeout that says why, instead of after its full timeout.
   */
  readonly abandon: (why: string) => void
  /**
   * The server refused a publish or subscription (nats.js reports it on the connection's status):
   * the requests waiting on that subject fail at once with it; a refused reply inbox fails them all,
   * and every later request.
   */
  readonly deny: (denied: PermissionDenied) => void
}

type Failure = Exclude<RequestError, NoResponders>

/** One request in flight: its first copy's token and, once hedged, the second's. */
class Call<A, E, E2> {
  hedgeId = 0
  hedgeSentAt = 0
  constructor(
    readonly resume: (outcome: Effect.Effect<A, E | E2 | Failure>) => void,
    readonly handlers: ReplyHandlers<A, E, E2>,
    readonly id: number,
    readonly sentAt: number,
    readonly deadline: number,
    public hedgeAt: number,
    readonly subject: string,
    readonly body: Uint8Array,
    readonly headers: MsgHdrs | undefined,
    readonly timeoutMs: number,
    readonly hedgeTo: (() => string) | undefined
  ) {}
  reply(msg: Msg) {
    this.resume(this.handlers.read(msg))
  }
  noResponders(error: NoResponders) {
    this.resume(this.handlers.noResponders(error))
  }
  fail(error: Failure) {
    this.resume(Effect.fail(error))
  }
}

/** The shape every Call has, whatever its reply type. */
interface Pending {
  readonly id: number
  hedgeId: number
  hedgeSentAt: number
  readonly sentAt: number
  readonly deadline: number
  hedgeAt: number
  readonly subject: string
  readonly body: Uint8Array
  readonly headers: MsgHdrs | undefined
  readonly timeoutMs: number
  readonly hedgeTo: (() => string) | undefined
  reply(msg: Msg): void
  noResponders(error: NoResponders): void
  fail(error: Failure): void
}

/** NoResponders (the server's 503 status, no body) or Overloaded (a replica's 503 service error). */
const refusedCopy = (msg: Msg): boolean => {
  const h = msg.headers
  if (h === undefined) return false
  return (h.hasError && h.code === 503 && msg.data.byteLength === 0) || h.get(ERROR_CODE_HEADER) === OVERLOADED_CODE
}

const OVERLOADED_CODE = String(errorCodes.Overloaded)

const RAW: ReplyHandlers<Msg, never, NoResponders> = { read: Effect.succeed, noResponders: Effect.fail }

export const muxedRequester = (nc: NatsConnection, hooks: RequesterHooks = {}): Requester => {
  const inbox = createInbox()
  const tokenAt = inbox.length + 1
  /** Each call under its first token, and under its hedge's token once hedged. */
  const pending = new Map<number, Pending>()
  let next = 0
  let sweeper: ReturnType<typeof setInterval> | undefined
  let closed = false
  let inboxDenied: PermissionDenied | undefined

  const forget = (call: Pending) => {
    pending.delete(call.id)
    if (call.hedgeId !== 0) pending.delete(call.hedgeId)
  }

  /**
   * A pending call is visited once per pass: under its first token, or under its hedge's once the first
   * copy was refused (a call already settled in the pass is not pending any more).
   */
  const visitedUnder = (id: number, call: Pending): boolean =>
    pending.get(id) === call && (id === call.id || !pending.has(call.id))

  const failCall = (call: Pending, error: Failure) => {
    forget(call)
    call.fail(error)
  }

  const publish = (subject: string, body: Uint8Array, id: number, headers: MsgHdrs | undefined) =>
    nc.publish(
      subject,
      body,
      headers === undefined ? { reply: `${inbox}.${id}` } : { reply: `${inbox}.${id}`, headers }
    )

  const sendHedge = (call: Pending, now: number) => {
    call.hedgeAt = Number.POSITIVE_INFINITY
    if (hooks.hedge?.() !== true) return
    const id = ++next
    try {
      publish(call.hedgeTo === undefined ? call.subject : call.hedgeTo(), call.body, id, call.headers)
    } catch {
      return // the first copy is still out; its own outcome decides
    }
    call.hedgeId = id
    call.hedgeSentAt = now
    pending.set(id, call)
  }

  const sweep = () => {
    const now = performance.now()
    let timedOut = false
    for (const [id, call] of pending) {
      if (!visitedUnder(id, call)) continue
      if (call.deadline <= now) {
        timedOut = true
        failCall(
          call,
          new Timeout({
            message: `no reply on ${call.subject} within ${call.timeoutMs} ms`,
            subject: call.subject,
            timeoutMs: call.timeoutMs
          })
        )
      } else if (call.hedgeAt <= now) sendHedge(call, now)
    }
    if (timedOut) hooks.timedOut?.()
    if (pending.size === 0 && sweeper !== undefined) {
      clearInterval(sweeper)
      sweeper = undefined
    }
  }

  const replies = nc.subscribe(`${inbox}.*`, {
    callback: (error, msg) => {
      if (error !== null) {
        // the server refused the reply inbox: no reply can ever come
        const denied = permissionDeniedOf(error)
        if (denied !== undefined) deny(denied)
        return
      }
      const id = Number(msg.subject.slice(tokenAt))
      const call = pending.get(id)
      if (call === undefined) return
      const hedged = id === call.hedgeId
      if (call.hedgeId !== 0 && refusedCopy(msg)) {
        // one copy found nobody, or a full replica; while the other is still out, it decides
        const other = hedged ? call.id : call.hedgeId
        if (pending.has(other)) {
          pending.delete(id)
          return
        }
      }
      if (msg.headers?.hasError === true && msg.headers.code === 503 && msg.data.byteLength === 0) {
        forget(call)
        call.noResponders(new NoResponders({ message: `no replica is serving ${call.subject}`, subject: call.subject }))
        return
      }
      forget(call)
      hooks.replied?.(performance.now() - (hedged ? call.hedgeSentAt : call.sentAt), hedged)
      call.reply(msg)
    }
  })

  const requestWith = <A, E, E2>(
    subject: string,
    body: Uint8Array,
    timeoutMs: number,
    headers: MsgHdrs | undefined,
    handlers: ReplyHandlers<A, E, E2>,
    hedgeAfterMs?: number,
    hedgeTo?: () => string
  ): Effect.Effect<A, E | E2 | Failure> =>
    Effect.callback<A, E | E2 | Failure>((resume) => {
      if (closed) return resume(Effect.fail(new ConnectionError({ message: "the client was closed" })))
      if (inboxDenied !== undefined) return resume(Effect.fail(inboxDenied))
      const limit = nc.info?.max_payload
      if (limit !== undefined && body.byteLength > limit) {
        return resume(
          Effect.fail(
            new PayloadTooLarge({
              message: `request body is ${body.byteLength} bytes; the NATS server accepts at most ${limit} (its max_payload)`,
              limit,
              size: body.byteLength
            })
          )
        )
      }
      const id = ++next
      const now = performance.now()
      const call = new Call(
        resume,
        handlers,
        id,
        now,
        now + timeoutMs,
        hedgeAfterMs === undefined || hedgeAfterMs >= timeoutMs ? Number.POSITIVE_INFINITY : now + hedgeAfterMs,
        subject,
        body,
        headers,
        timeoutMs,
        hedgeTo
      )
      pending.set(id, call)
      try {
        publish(subject, body, id, headers)
      } catch (cause) {
        failCall(call, new ConnectionError({ message: `cannot publish to ${subject}: ${messageOf(cause)}` }))
        return
      }
      if (sweeper === undefined) {
        sweeper = setInterval(sweep, SWEEP_MS)
        sweeper.unref()
      }
      return Effect.sync(() => forget(call))
    })

  const request = (subject: string, body: Uint8Array, timeoutMs: number, headers?: MsgHdrs) =>
    requestWith(subject, body, timeoutMs, headers, RAW)

  const abandon = (why: string) => {
    for (const [id, call] of [...pending]) {
      if (!visitedUnder(id, call)) continue
      failCall(
        call,
        new Timeout({
          message: `no reply on ${call.subject}: ${why}`,
          subject: call.subject,
          timeoutMs: call.timeoutMs
        })
      )
    }
  }

  const deny = (denied: PermissionDenied) => {
    const everything = denied.operation === "subscribe" && denied.subject === `${inbox}.*`
    if (everything) inboxDenied = denied
    for (const [id, call] of [...pending]) {
      if (!visitedUnder(id, call)) continue
      if (everything || (denied.operation === "publish" && call.subject === denied.subject)) failCall(call, denied)
    }
  }

  const close = () => {
    if (closed) return
    closed = true
    for (const [id, call] of [...pending])
      if (visitedUnder(id, call)) failCall(call, new ConnectionError({ message: "the client was closed" }))
    if (sweeper !== undefined) clearInterval(sweeper)
    sweeper = undefined
    if (!replies.isClosed()) replies.unsubscribe()
  }

  return { request, requestWith, close, abandon, deny }
}
