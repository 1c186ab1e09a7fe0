// Waiting for a model's replicas to serve a new version: their update acks, pushed into a Queue by
// a subscription that lives in the caller's Scope, folded by pure decisions until done or timeoutMs.
import type { NatsConnection } from "@nats-io/transport-node"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import * as Queue from "effect/Queue"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
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

/**
 * The replicas listed when the rollout began, against their acks of the version (by actor id) and
 * the ones status shows already serving it (`caughtUp`: started onto it, so they never ack it).
 */
export const rolloutProgress = (
  replicas: ReadonlyArray<string>,
  acks: ReadonlyMap<string, UpdateAck>,
  caughtUp: ReadonlySet<string> = new Set()
): RolloutProgress => {
  const refusal = replicas.map((id) => acks.get(id)).find((a) => a !== undefined && !a.ok)
  if (refusal !== undefined) return { _tag: "Refused", ack: refusal }
  const served = (id: string) => acks.get(id)?.ok === true || caughtUp.has(id)
  const acked = replicas.filter(served)
  const pending = replicas.filter((id) => !served(id))
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

/** While acks are awaited, status is asked after this long without one (Clock time). */
export const RECHECK_MS = 1_000

/**
 * Takes acks from the queue until every listed replica acked `version` or one refused. After each
 * `RECHECK_MS` without an ack it asks `live`: a listed replica already on the version counts (it
 * started onto it: a replica started by `scale` meanwhile never acks), one gone is dropped. After
 * `timeoutMs` (Clock time) it settles with `live` once more. Acks of other versions are skipped;
 * acks queued before the call count, and an ack from a replica no listing found lists it. An empty
 * `replicas` is listed again from `live` after `RECHECK_MS` (the acks of that second noted), and before
 * it says every replica is served it asks `live` once more for replicas the listing missed.
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
    const caughtUp = new Set<string>()
    let listed = replicas
    /** An ack of the version counts; one from a replica no listing found lists it (its supervisor had not answered). */
    const note = (ack: UpdateAck) => {
      if (ack.version !== version) return
      seen.set(ack.actor, ack)
      if (!listed.includes(ack.actor)) listed = [...listed, ack.actor]
    }
    const decided = Effect.gen(function* () {
      // An empty first listing is looked at once more after a quiet second, the acks of that second
      // noted: a status gather that reached no supervisor (JetStream electing after a node loss, a
      // supervisor reconnecting) is no proof that there are none.
      if (listed.length === 0) {
        yield* Effect.sleep(RECHECK_MS)
        for (const ack of yield* Queue.clear(acks)) note(ack)
        const now = yield* Effect.option(live)
        if (Option.isSome(now)) listed = [...new Set([...listed, ...now.value.map((a) => a.id)])]
        if (Option.isSome(now)) for (const actor of now.value) if (actor.version >= version) caughtUp.add(actor.id)
      }
      for (;;) {
        const progress = rolloutProgress(listed, seen, caughtUp)
        if (progress._tag === "Refused") return progress
        if (progress._tag === "Served") {
          // Before saying so, one more look: a replica the first listing missed (its supervisor had
          // not answered status) and still behind the version is waited for too.
          const now = yield* Effect.option(live)
          const missed = Option.isSome(now)
            ? now.value.filter((a) => a.version < version && !listed.includes(a.id) && !seen.has(a.id))
            : []
          if (missed.length === 0) return progress
          listed = [...listed, ...missed.map((a) => a.id)]
          continue
        }
        const next = yield* Queue.take(acks).pipe(Effect.timeoutOption(RECHECK_MS))
        if (Option.isSome(next)) {
          note(next.value)
          continue
        }
        // a failed look is no verdict while there is time: the next quiet second looks again
        const now = yield* Effect.option(live)
        if (Option.isNone(now)) continue
        const present = new Set(now.value.map((a) => a.id))
        listed = listed.filter((id) => present.has(id) || seen.has(id))
        for (const actor of now.value) if (actor.version >= version) caughtUp.add(actor.id)
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
                listed.filter((id) => seen.get(id)?.ok === true),
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
