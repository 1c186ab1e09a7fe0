// Who is on the bus: each supervisor announces itself in a KV bucket whose entries expire, refreshed
// while it runs and deleted when it stops, so callers know whom to wait for instead of guessing a quiet gap.
import { jetstreamManager } from "@nats-io/jetstream"
import { type KV, Kvm } from "@nats-io/kv"
import type { NatsConnection } from "@nats-io/transport-node"
import * as Effect from "effect/Effect"
import * as Schedule from "effect/Schedule"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import { SupervisorMember } from "../protocol/messages.js"
import { messageOf } from "../protocol/values.js"
import { autoReplicas, bucketNames, kvStream, raiseReplicas } from "./buckets.js"

/**
 * An entry is refreshed every `refreshMs`; one not refreshed for `ttlMs` expires (the server removes
 * expired entries about once a second), so a supervisor that vanishes drops out within `ttlMs` + 1 s.
 */
export const MEMBERSHIP = { refreshMs: 2_000, ttlMs: 6_000 } as const

const decodeMember = Schema.decodeUnknownOption(Schema.fromJsonString(SupervisorMember))

/** Opens the members bucket, creating it (with `replicas`, else the automatic count) if needed. */
export const openMembers = (nc: NatsConnection, prefix: string, replicas?: number): Effect.Effect<KV, string> => {
  const bucket = bucketNames(prefix).supervisors
  const want = replicas ?? autoReplicas(nc.info)
  const create = (n: number) =>
    Effect.tryPromise({
      try: () => new Kvm(nc).create(bucket, { history: 1, ttl: MEMBERSHIP.ttlMs, replicas: n }),
      catch: messageOf
    })
  const created = replicas === undefined && want > 1 ? create(want).pipe(Effect.catch(() => create(1))) : create(want)
  return created.pipe(
    Effect.tap(() =>
      replicas === undefined ? Effect.void : Effect.asVoid(raiseReplicas(nc, kvStream(bucket), replicas))
    )
  )
}

/** Binds the members bucket as it is (a client); fails when there is none. */
export const bindMembers = (nc: NatsConnection, prefix: string): Effect.Effect<KV, string> =>
  Effect.tryPromise({ try: () => new Kvm(nc).open(bucketNames(prefix).supervisors), catch: messageOf })

/**
 * Announces `member` until the scope closes: now, then every `refreshMs` (a failed refresh is
 * retried at the next one), and deletes the entry on close.
 */
export const announce = (kv: KV, member: SupervisorMember): Effect.Effect<void, never, Scope.Scope> => {
  const value = JSON.stringify(member)
  const put = Effect.tryPromise({ try: () => kv.put(member.id, value), catch: messageOf }).pipe(
    Effect.catch((why) => Effect.logWarning(`announcing supervisor ${member.id} failed: ${why}`))
  )
  return Effect.acquireRelease(put, () =>
    Effect.tryPromise({ try: () => kv.delete(member.id), catch: messageOf }).pipe(Effect.ignore)
  ).pipe(
    Effect.andThen(Effect.forkScoped(put.pipe(Effect.repeat(Schedule.spaced(MEMBERSHIP.refreshMs))))),
    Effect.asVoid
  )
}

/** The supervisors announced now (entries that do not decode are skipped). */
export const listMembers = (kv: KV): Effect.Effect<ReadonlyArray<SupervisorMember>, string> =>
  Effect.tryPromise({
    try: async () => {
      const members: Array<SupervisorMember> = []
      for await (const key of await kv.keys()) {
        const entry = await kv.get(key)
        if (entry === null || entry.operation !== "PUT") continue
        const member = decodeMember(entry.string())
        if (member._tag === "Some") members.push(member.value)
      }
      return members
    },
    catch: messageOf
  })

/**
 * The ids of the supervisors announced now: what a caller waits for. Read without a consumer (the
 * stream's subjects, then each key's last entry by direct get), so a lost node cannot stall it.
 */
export const memberIds = (nc: NatsConnection, kv: KV, prefix: string): Effect.Effect<ReadonlyArray<string>, string> =>
  Effect.tryPromise({
    try: async () => {
      const bucket = bucketNames(prefix).supervisors
      const jsm = await jetstreamManager(nc, { timeout: 2_000 })
      const info = await jsm.streams.info(kvStream(bucket), { subjects_filter: ">" })
      const keyAt = `$KV.${bucket}.`.length
      const ids: Array<string> = []
      for (const subject of Object.keys(info.state.subjects ?? {})) {
        const entry = await kv.get(subject.slice(keyAt))
        if (entry?.operation === "PUT") ids.push(entry.key)
      }
      return ids
    },
    catch: messageOf
  })
