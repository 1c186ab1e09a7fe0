// Waiting for a model's replicas to take a canary up or drop it: their canary acks of one canary and phase,
// pushed into a Queue by a subscription in the caller's Scope, decided like a rollout (rollout.ts).
import type { NatsConnection } from "@nats-io/transport-node"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import * as Queue from "effect/Queue"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import { permissionDeniedOf } from "../nats/permissions.js"
import { CanaryAck } from "../protocol/canary.js"
import { parseBody } from "../protocol/codec.js"
import { ConnectionError, type PermissionDenied } from "../protocol/errors.js"
import type { ActorStatus, UpdateAck } from "../protocol/messages.js"
import { messageOf } from "../protocol/values.js"
import type { CanaryPhase } from "../registry/canaryState.js"
import { awaitRollout, type RolloutOutcome } from "./rollout.js"

const decodeAck = Schema.decodeUnknownOption(CanaryAck)

export interface CanaryAckCollector<E> {
  /** Waits for the replicas listed when the collector started to ack canary `id` in `phase` (or one to refuse). */
  readonly until: (id: string, phase: CanaryPhase, timeoutMs: number) => Effect.Effect<RolloutOutcome, E>
}

/**
 * Subscribes to `subject` (one model's canary acks) from now on, and lists the model's `live` replicas
 * meanwhile; both end with the scope. PermissionDenied when the server refuses the subscription.
 */
export const canaryAckCollector = <E>(
  nc: NatsConnection,
  subject: string,
  live: Effect.Effect<ReadonlyArray<Pick<ActorStatus, "id" | "version">>, E>
): Effect.Effect<CanaryAckCollector<E>, ConnectionError | PermissionDenied, Scope.Scope> =>
  Effect.gen(function* () {
    const acks: Array<CanaryAck> = []
    let wanted: ((ack: CanaryAck) => void) | undefined
    let refused: unknown
    yield* Effect.acquireRelease(
      Effect.try({
        try: () =>
          nc.subscribe(subject, {
            callback: (error, msg) => {
              if (error !== null) {
                refused = error
                return
              }
              const parsed = parseBody(msg.data, "json")
              const ack = parsed.ok ? decodeAck(parsed.value) : Option.none()
              if (Option.isNone(ack)) return
              if (wanted === undefined) acks.push(ack.value)
              else wanted(ack.value)
            }
          }),
        catch: (cause) => new ConnectionError({ message: `cannot subscribe to ${subject}: ${messageOf(cause)}` })
      }),
      (sub) => Effect.sync(() => sub.unsubscribe())
    )
    yield* Effect.tryPromise({
      try: () => nc.flush(),
      catch: (cause) => new ConnectionError({ message: `cannot subscribe to ${subject}: ${messageOf(cause)}` })
    })
    const denied = refused === undefined ? undefined : permissionDeniedOf(refused)
    if (denied !== undefined) return yield* Effect.fail(denied)
    const listed = yield* Effect.forkScoped(live)
    return {
      until: (id, phase, timeoutMs) =>
        Effect.gen(function* () {
          const queue = yield* Queue.unbounded<UpdateAck>()
          // an ack of this canary in this phase reads as a rollout ack of version 0
          const offer = (ack: CanaryAck) => {
            if (ack.canary === id && ack.phase === phase) Queue.offerUnsafe(queue, { ...ack, version: 0 })
          }
          for (const ack of acks.splice(0)) offer(ack)
          wanted = offer
          const replicas = yield* Fiber.join(listed)
          return yield* awaitRollout(
            queue,
            replicas.map((r) => r.id),
            0,
            timeoutMs,
            // a replica's status version is never below 0: only a replica gone is dropped on a quiet second
            live.pipe(Effect.map((now) => now.map((a) => ({ id: a.id, version: -1 }))))
          )
        })
    }
  })
