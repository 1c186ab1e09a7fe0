// Holding a model's requests while it has no replica: a subscription in the replicas' own queue
// group on its infer subject, each request held within bounds and its deadline, then republished
// with its original reply subject once a replica serves, or answered with a typed error.
import { type Msg, type NatsConnection, headers as natsHeaders, type Subscription } from "@nats-io/transport-node"
import { Effect, FiberSet, type Scope } from "effect"
import {
  CONTENT_TYPE_HEADER,
  encodeError,
  encodingOfMessage,
  JSON_CONTENT_TYPE,
  parseBody
} from "../../protocol/codec.js"
import {
  DeadlineExceeded,
  ERROR_CODE_HEADER,
  ERROR_HEADER,
  errorCodes,
  InferenceFailed,
  Overloaded,
  type ServiceError
} from "../../protocol/errors.js"
import type { Subjects } from "../../protocol/subjects.js"
import type { AutoscalePolicy } from "../machine/autoscalePolicy.js"
import { holdLimitMs, holdRefusal } from "../machine/heldRequests.js"

export interface RequestHolder {
  /** Requests held now. */
  readonly held: () => number
  /** Holds while `serving` is 0 (subscribes), republishes what it holds once it is not (and stops). */
  readonly follow: (serving: number) => Effect.Effect<void>
  /** Answers every held request with InferenceFailed: the replica woken for them could not start. */
  readonly failAll: (why: string) => Effect.Effect<void>
}

interface Held {
  readonly msg: Msg
  readonly bytes: number
}

const reply = (msg: Msg, error: ServiceError) => {
  if (!msg.reply) return
  const encoding = encodingOfMessage(msg)
  const h = natsHeaders()
  if (encoding === "json") h.set(CONTENT_TYPE_HEADER, JSON_CONTENT_TYPE)
  h.set(ERROR_CODE_HEADER, String(errorCodes[error._tag]))
  h.set(ERROR_HEADER, error.message.replace(/[\r\n]+/g, " ").slice(0, 1024))
  msg.respond(encodeError(error, encoding), { headers: h })
}

export const makeRequestHolder = Effect.fnUntraced(function* (options: {
  readonly nc: NatsConnection
  readonly subject: Subjects
  readonly model: string
  readonly policy: AutoscalePolicy
}): Effect.fn.Return<RequestHolder, never, Scope.Scope> {
  const { nc, subject, model, policy } = options
  const run = yield* FiberSet.makeRuntime<never, void, never>()
  const held = new Set<Held>()
  let bytes = 0
  let subscription: Subscription | undefined
  /** Once a replica serves: what still arrives on the draining subscription goes straight to it. */
  let forwarding = false

  const release = (entry: Held) => {
    held.delete(entry)
    bytes -= entry.bytes
  }

  /** The request as it came: same subject, body, headers and reply subject, so the replica answers the caller. */
  const republish = (msg: Msg) => {
    if (nc.isClosed()) return
    nc.publish(msg.subject, msg.data, {
      ...(msg.reply ? { reply: msg.reply } : {}),
      ...(msg.headers === undefined ? {} : { headers: msg.headers })
    })
  }

  const hold = (msg: Msg) => {
    const refusal = holdRefusal({ count: held.size, bytes }, msg.data.byteLength, policy, model)
    if (refusal !== undefined) return reply(msg, new Overloaded({ message: refusal }))
    const entry: Held = { msg, bytes: msg.data.byteLength }
    held.add(entry)
    bytes += entry.bytes
    const parsed = parseBody(msg.data, encodingOfMessage(msg))
    const limitMs = holdLimitMs(parsed.ok ? parsed.value : undefined)
    run(
      Effect.sleep(limitMs).pipe(
        Effect.andThen(
          Effect.sync(() => {
            if (!held.has(entry)) return
            release(entry)
            reply(
              msg,
              new DeadlineExceeded({
                message: `model ${model} did not wake within the request's ${limitMs} ms while it was held at zero replicas`
              })
            )
          })
        )
      )
    )
  }

  const stop = () => {
    const sub = subscription
    subscription = undefined
    if (sub === undefined) return Promise.resolve()
    // what the server already sent is forwarded too: nothing arrives unanswered after the drain
    return sub.drain().catch(() => {})
  }

  yield* Effect.addFinalizer(() =>
    Effect.promise(stop).pipe(
      Effect.andThen(
        Effect.sync(() => {
          for (const entry of [...held]) {
            release(entry)
            reply(entry.msg, new Overloaded({ message: `model ${model}'s supervisor is stopping` }))
          }
        })
      )
    )
  )

  return {
    held: () => held.size,
    follow: (serving) =>
      Effect.promise(async () => {
        if (serving === 0 && subscription === undefined && !nc.isClosed()) {
          forwarding = false
          subscription = nc.subscribe(subject.infer(model), {
            queue: subject.inferQueue(model),
            callback: (error, msg) => {
              if (error !== null) return
              if (forwarding) republish(msg)
              else hold(msg)
            }
          })
        } else if (serving > 0 && subscription !== undefined) {
          // out of the queue group first, so nothing republished comes back here
          forwarding = true
          await stop()
          for (const entry of [...held]) {
            release(entry)
            republish(entry.msg)
          }
        }
      }),
    failAll: (why) =>
      Effect.sync(() => {
        for (const entry of [...held]) {
          release(entry)
          reply(entry.msg, new InferenceFailed({ message: `model ${model} could not wake for this request: ${why}` }))
        }
      })
  }
})
