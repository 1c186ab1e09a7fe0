// Waiting for a model's replicas to serve a new version: their update acks, pushed into a Queue by
// a subscription that lives in the caller's Scope, folded by pure decisions until done or timeoutMs.
import type { NatsConnection } from "@nats-io/transport-node"
import { Effect, Fiber, Option, Queue, Schema, type Scope } from "effect"
import { permissionDeniedOf } from "../nats/permissions.js"
import { parseBody } from "../protocol/codec.js"
import { ConnectionError, type PermissionDenied } from "../protocol/errors.js"
import { type ActorStatus, UpdateAck } from "../protocol/messages.js"
import { messageOf } from "../protocol/values.js"

/** Where a rollout stands: every listed replica acked, one refused, or some still to come. */
export type RolloutProgress =
  | { readonly _tag: "Served"; readonly acked: ReadonlyArray<string>; readonly pending: ReadonlyArray<string> }
  | { readonly _tag: "Refused"; readonly ack: UpdateAck }
  | { readonly _tag: "Waiting"; readonly acked: ReadonlyArray<string>; readonly pending: ReadonlyArray<string> }

export type RolloutOutcome = Exclude<RolloutProgress, { readonly _tag: "Waiting" }>

/** The replicas listed when the rollout began, against their acks of the version (by actor id). */
export const rolloutProgress = (
  replicas: ReadonlyArray<string>,
  acks: ReadonlyMap<string, UpdateAck>
): RolloutProgress => {
  const refusal = replicas.map((id) => acks.get(id)).find((a) => a !== undefined && !a.ok)
  if (refusal !== undefined) return { _tag: "Refused", ack: refusal }
  const acked = replicas.filter((id) => acks.get(id)?.ok === true)
  const pending = replicas.filter((id) => acks.get(id)?.ok !== true)
  return pending.length === 0 ? { _tag: "Served", acked, pending } : { _tag: "Waiting", acked, pending }
}

/**
 * When time is up: the replicas that acked, plus live ones already serving the version (they
 * restarted onto it); the live ones still behind are pending, and replicas gone meanwhile are dropped.
 */
export const settleAtTimeout = (
  acked: ReadonlyArray<string>,
  live: ReadonlyArray<Pick<ActorStatus, "id" | "version">>,
  version: number
): RolloutOutcome => {
  const caughtUp = live.filter((a) => a.version >= version).map((a) => a.id)
  const serving = [...new Set([...acked, ...caughtUp])]
  return { _tag: "Served", acked: serving, pending: live.map((a) => a.id).filter((id) => !serving.includes(id)) }
}

/**
 * Takes acks from the queue until every listed replica acked `version` or one refused; after
 * `timeoutMs` (Clock time) asks `live` once for replicas that restarted onto it. Acks of other
 * versions are skipped; acks queued before the call count.
 */
export const awaitRollout = <E>(
  acks: Queue.Dequeue<UpdateAck>,
  replicas: ReadonlyArray<string>,
  version: number,
  timeoutMs: number,
  live: Effect.Effect<ReadonlyArray<Pick<ActorStatus, "id" | "version">>, E>
): Effect.Effect<RolloutOutcome, E> =>
  Effect.suspend(() => {
    const seen = new Map<string, UpdateAck>()
    const decided = Effect.gen(function* () {
      for (;;) {
        const progress = rolloutProgress(replicas, seen)
        if (progress._tag !== "Waiting") return progress
        const ack = yield* Queue.take(acks)
        if (ack.version === version) seen.set(ack.actor, ack)
      }
    })
    return decided.pipe(
      Effect.timeoutOption(timeoutMs),
      Effect.flatMap(
        Option.match({
          onSome: Effect.succeed,
          onNone: () =>
            Effect.map(live, (now) =>
              settleAtTimeout(
                replicas.filter((id) => seen.get(id)?.ok === true),
                now,
                version
              )
            )
        })
      )
    )
  })

/** An update ack as the replicas publish it (JSON); anything else on the subject is ignored. */
const decodeAck: (body: unknown) => Option.Option<UpdateAck> = Schema.decodeUnknownOption(UpdateAck)

export interface AckCollector<E> {
  /** Waits for the replicas listed when the collector started to ack `version` (see `awaitRollout`). */
  readonly until: (version: number, timeoutMs: number) => Effect.Effect<RolloutOutcome, E>
}

/**
 * Subscribes to `subject` (one model's update acks) from now on and lists the model's `live`
 * replicas meanwhile (while the new version uploads); both end with the scope. Fails with
 * PermissionDenied when the server refuses the subscription (checked with one round trip, before
 * anything is published).
 */
export const ackCollector = <E>(
  nc: NatsConnection,
  subject: string,
  live: Effect.Effect<ReadonlyArray<Pick<ActorStatus, "id" | "version">>, E>
): Effect.Effect<AckCollector<E>, ConnectionError | PermissionDenied, Scope.Scope> =>
  Effect.gen(function* () {
    const acks = yield* Queue.unbounded<UpdateAck>()
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
              if (!parsed.ok) return
              const ack = decodeAck(parsed.value)
              if (Option.isSome(ack)) Queue.offerUnsafe(acks, ack.value)
            }
          }),
        catch: (cause) => new ConnectionError({ message: `cannot subscribe to ${subject}: ${messageOf(cause)}` })
      }),
      (sub) => Effect.sync(() => sub.unsubscribe())
    )
    // the server answers a refused subscription before the flush's PONG
    yield* Effect.tryPromise({
      try: () => nc.flush(),
      catch: (cause) => new ConnectionError({ message: `cannot subscribe to ${subject}: ${messageOf(cause)}` })
    })
    const denied = refused === undefined ? undefined : permissionDeniedOf(refused)
    if (denied !== undefined) return yield* Effect.fail(denied)
    const listed = yield* Effect.forkScoped(live)
    return {
      until: (version, timeoutMs) =>
        Fiber.join(listed).pipe(
          Effect.flatMap((replicas) =>
            awaitRollout(
              acks,
              replicas.map((r) => r.id),
              version,
              timeoutMs,
              live
            )
          )
        )
    }
  })
