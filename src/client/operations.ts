// Operating a running deployment from a client: restart a model or one actor without a gap,
// scale a model, and follow lifecycle events; the supervisors that own the target answer.
import type { NatsConnection } from "@nats-io/transport-node"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Result from "effect/Result"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import { type GatherPlan, gather } from "../nats/gather.js"
import { permissionDeniedOf } from "../nats/permissions.js"
import { parseBody, serialize } from "../protocol/codec.js"
import { ConnectionError, NotFound, type PermissionDenied } from "../protocol/errors.js"
import { ControlReply, LifecycleEvent } from "../protocol/messages.js"
import { type ControlCommand, subjects } from "../protocol/subjects.js"
import { messageOf } from "../protocol/values.js"
import { gatherPlan, type Membership } from "./membership.js"

/** A supervisor refused a control command (for example a bad replica count). */
export class ControlRefused extends Schema.TaggedError<ControlRefused>()("ControlRefused", {
  message: Schema.String,
  supervisor: Schema.String
}) {}

export interface ControlOptions {
  /** How long to wait for the supervisors to finish (default 60 s: a restart waits for fresh replicas to load). */
  readonly timeoutMs?: number
}

const collect = (nc: NatsConnection, subject: string, body: unknown, options: GatherPlan) =>
  Effect.tryPromise({
    try: async () => {
      const replies: Array<unknown> = []
      for (const msg of await gather(nc, subject, serialize(body, "msgpack"), options)) {
        const parsed = parseBody(msg.data, "msgpack")
        if (parsed.ok) replies.push(parsed.value)
      }
      return replies
    },
    catch: (error) =>
      permissionDeniedOf(error) ?? new ConnectionError({ message: `request on ${subject} failed: ${messageOf(error)}` })
  })

const subscriptionFailed = (error: unknown) =>
  permissionDeniedOf(error) ?? new ConnectionError({ message: `event subscription failed: ${messageOf(error)}` })

const decodeControlReply = Schema.decodeUnknownOption(ControlReply)
const decodeEvent = Schema.decodeUnknownOption(LifecycleEvent)

/** A lifecycle event published as JSON, or none when the message is not one (someone else wrote it). */
const eventOf = (data: Uint8Array): Option.Option<LifecycleEvent> => {
  const parsed = parseBody(data, "json")
  return parsed.ok ? decodeEvent(parsed.value) : Option.none()
}

/** Control operations over an open connection. */
export const controlOn = (nc: NatsConnection, membership: Membership, prefix?: string) => {
  const subject = subjects(prefix)

  const command = Effect.fnUntraced(function* (
    command: ControlCommand,
    body: Record<string, unknown>,
    target: string,
    options: ControlOptions
  ) {
    // Every live supervisor answers a command (with what it did, possibly nothing). Who is live: those
    // that answer status, waiting for every announced one (a supervisor killed a moment ago is still
    // announced until its entry expires: it costs the status wait, not the command's whole timeout),
    // or, without membership, for a quiet gap.
    const announced = yield* membership.ids
    const supervisors =
      announced?.length === 0 ? 0 : (yield* collect(nc, subject.status, {}, gatherPlan(announced, 300, 3_000))).length
    if (supervisors === 0) return yield* new NotFound({ message: `no supervisor answers on ${subject.status}`, target })
    // a reply that is not a ControlReply (someone else answered on the subject) is left out
    const replies = (yield* collect(nc, subject.control(command), body, {
      strategy: "count",
      maxMessages: supervisors,
      maxWait: options.timeoutMs ?? 60_000
    })).flatMap((reply) => Option.toArray(decodeControlReply(reply)))
    const refused = replies.find((r) => r.error !== undefined)
    if (refused !== undefined)
      return yield* new ControlRefused({ message: refused.error!, supervisor: refused.supervisor })
    if (!replies.some((r) => r.done.length > 0)) {
      return yield* new NotFound({ message: `no supervisor runs "${target}" (asked ${supervisors})`, target })
    }
    return replies.filter((r) => r.done.length > 0)
  })

  return {
    /** Replaces every replica of a model, or one actor (id like `iris-2@k3j9x2`, or `iris-2`), each fresh process serving before the old one drains. */
    restart: (target: string, options: ControlOptions = {}) => command("restart", { target }, target, options),
    /** Sets the number of replicas of `model` on every supervisor running it (or only `supervisor`). */
    scale: (model: string, replicas: number, options: ControlOptions & { readonly supervisor?: string } = {}) =>
      command(
        "scale",
        { model, replicas, ...(options.supervisor === undefined ? {} : { supervisor: options.supervisor }) },
        model,
        options
      ),
    /** Lifecycle events of `model` (or every model), as they happen. */
    /** Calls `onEvent` for each event of `model`; resolves once the server has the subscription (no event after that is missed) with the function that stops it. */
    onEvents: (
      onEvent: (event: LifecycleEvent) => void,
      model = "*"
    ): Effect.Effect<() => void, ConnectionError | PermissionDenied> =>
      Effect.tryPromise({
        try: async () => {
          let refused: unknown
          const sub = nc.subscribe(subject.events(model), {
            callback: (error, msg) => {
              if (error !== null) {
                refused = error
                return
              }
              const event = eventOf(msg.data)
              if (Option.isSome(event)) onEvent(event.value)
            }
          })
          // a refused subscription is answered before the flush's PONG
          await nc.flush()
          if (refused !== undefined) throw refused
          return () => sub.unsubscribe()
        },
        catch: subscriptionFailed
      }),
    events: (model = "*"): Stream.Stream<LifecycleEvent, ConnectionError | PermissionDenied> =>
      Stream.suspend(() => {
        const sub = nc.subscribe(subject.events(model))
        return Stream.fromAsyncIterable(sub, subscriptionFailed).pipe(
          Stream.filterMap((msg) => Result.fromOption(eventOf(msg.data), () => undefined)),
          Stream.ensuring(Effect.sync(() => sub.unsubscribe()))
        )
      })
  }
}
