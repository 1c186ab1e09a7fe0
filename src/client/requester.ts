// The client's hot path to the bus: one muxed inbox subscription per client, its own correlation
// by reply token, and one sweep timer for all deadlines, instead of a `request()` per call.
import { createInbox, type Msg, type MsgHdrs, type NatsConnection } from "@nats-io/transport-node"
import * as Effect from "effect/Effect"
import { permissionDeniedOf } from "../nats/permissions.js"
import { ConnectionError, NoResponders, PayloadTooLarge, type PermissionDenied, Timeout } from "../protocol/errors.js"
import { messageOf } from "../protocol/values.js"

export type RequestError = Timeout | NoResponders | ConnectionError | PayloadTooLarge | PermissionDenied
type Outcome = Effect.Effect<Msg, RequestError>

interface Pending {
  readonly resume: (outcome: Outcome) => void
  /** What the caller makes of its reply and of NoResponders, run as it is settled (no extra step per call). */
  readonly handlers: ReplyHandlers<unknown, unknown, unknown> | undefined
  readonly deadline: number
  readonly subject: string
  readonly timeoutMs: number
}

/** What a caller makes of the reply itself, and of NoResponders, inside the request's own step. */
export interface ReplyHandlers<A, E, E2> {
  readonly read: (msg: Msg) => Effect.Effect<A, E>
  readonly noResponders?: ((error: NoResponders) => Effect.Effect<never, E2>) | undefined
}

/** How often the deadline sweep runs while requests are pending (the timeout's resolution). */
const SWEEP_MS = 10

export interface Requester {
  /**
   * Publishes `body` to `subject` with a reply token and waits for the reply, or a typed failure;
   * with `handlers`, succeeds with what `read` makes of the reply (decoded as it arrives), and
   * NoResponders becomes what `noResponders` makes of it.
   */
  readonly request: {
    (subject: string, body: Uint8Array, timeoutMs: number, headers?: MsgHdrs): Outcome
    <A, E, E2 = NoResponders>(
      subject: string,
      body: Uint8Array,
      timeoutMs: number,
      headers: MsgHdrs | undefined,
      handlers: ReplyHandlers<A, E, E2>
    ): Effect.Effect<A, E | E2 | Exclude<RequestError, NoResponders>>
  }
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

export const muxedRequester = (nc: NatsConnection): Requester => {
  const inbox = createInbox()
  const tokenAt = inbox.length + 1
  const pending = new Map<number, Pending>()
  let next = 0
  let sweeper: ReturnType<typeof setInterval> | undefined
  let closed = false
  let inboxDenied: PermissionDenied | undefined

  const settle = (id: number, outcome: Outcome) => {
    const p = pending.get(id)
    if (p === undefined) return
    pending.delete(id)
    p.resume(outcome)
  }

  const sweep = () => {
    const now = performance.now()
    for (const [id, p] of pending) {
      if (p.deadline <= now)
        settle(
          id,
          Effect.fail(
            new Timeout({
              message: `no reply on ${p.subject} within ${p.timeoutMs} ms`,
              subject: p.subject,
              timeoutMs: p.timeoutMs
            })
          )
        )
    }
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
      const p = pending.get(id)
      if (p === undefined) return
      pending.delete(id)
      if (msg.headers?.hasError === true && msg.headers.code === 503 && msg.data.byteLength === 0) {
        const none = new NoResponders({ message: `no replica is serving ${p.subject}`, subject: p.subject })
        const noResponders = p.handlers?.noResponders
        p.resume(noResponders === undefined ? Effect.fail(none) : (noResponders(none) as Outcome))
      } else {
        p.resume(p.handlers === undefined ? Effect.succeed(msg) : (p.handlers.read(msg) as Outcome))
      }
    }
  })

  const request = (
    subject: string,
    body: Uint8Array,
    timeoutMs: number,
    headers?: MsgHdrs,
    handlers?: ReplyHandlers<unknown, unknown, unknown>
  ): Outcome =>
    Effect.callback<Msg, RequestError>((resume) => {
      if (closed) {
        resume(Effect.fail(new ConnectionError({ message: "the client was closed" })))
        return
      }
      if (inboxDenied !== undefined) {
        resume(Effect.fail(inboxDenied))
        return
      }
      const id = ++next
      pending.set(id, { resume, handlers, deadline: performance.now() + timeoutMs, subject, timeoutMs })
      const limit = nc.info?.max_payload
      if (limit !== undefined && body.byteLength > limit) {
        settle(
          id,
          Effect.fail(
            new PayloadTooLarge({
              message: `request body is ${body.byteLength} bytes; the NATS server accepts at most ${limit} (its max_payload)`,
              limit,
              size: body.byteLength
            })
          )
        )
        return
      }
      try {
        nc.publish(
          subject,
          body,
          headers === undefined ? { reply: `${inbox}.${id}` } : { reply: `${inbox}.${id}`, headers }
        )
      } catch (cause) {
        settle(
          id,
          Effect.fail(
            new ConnectionError({
              message: `cannot publish to ${subject}: ${messageOf(cause)}`
            })
          )
        )
        return
      }
      if (sweeper === undefined) {
        sweeper = setInterval(sweep, SWEEP_MS)
        sweeper.unref()
      }
      return Effect.sync(() => void pending.delete(id))
    })

  const abandon = (why: string) => {
    for (const [id, p] of [...pending]) {
      settle(
        id,
        Effect.fail(
          new Timeout({ message: `no reply on ${p.subject}: ${why}`, subject: p.subject, timeoutMs: p.timeoutMs })
        )
      )
    }
  }

  const deny = (denied: PermissionDenied) => {
    const everything = denied.operation === "subscribe" && denied.subject === `${inbox}.*`
    if (everything) inboxDenied = denied
    for (const [id, p] of [...pending]) {
      if (everything || (denied.operation === "publish" && p.subject === denied.subject))
        settle(id, Effect.fail(denied))
    }
  }

  const close = () => {
    if (closed) return
    closed = true
    for (const id of [...pending.keys()])
      settle(id, Effect.fail(new ConnectionError({ message: "the client was closed" })))
    if (sweeper !== undefined) clearInterval(sweeper)
    sweeper = undefined
    if (!replies.isClosed()) replies.unsubscribe()
  }

  return { request: request as Requester["request"], close, abandon, deny }
}
