// The supervisors a caller waits for: the ones announced in the deployment's members bucket, read
// fresh for each call (the last read while it cannot be read); undefined when the bus has none (no
// JetStream), where callers wait for a quiet gap.
import type { KV } from "@nats-io/kv"
import type { NatsConnection } from "@nats-io/transport-node"
import * as Effect from "effect/Effect"
import * as Schedule from "effect/Schedule"
import { bindMembers, memberIds } from "../nats/members.js"

export interface Membership {
  /** The announced supervisors' ids now, or undefined when nothing is announced on this bus. */
  readonly ids: Effect.Effect<ReadonlyArray<string> | undefined>
}

export const membershipOn = (nc: NatsConnection, prefix: string): Membership => {
  let bound: KV | undefined
  const kv = Effect.suspend(() =>
    bound !== undefined
      ? Effect.succeed(bound)
      : bindMembers(nc, prefix).pipe(Effect.tap((b) => Effect.sync(() => (bound = b))))
  )
  // While JetStream elects leaders (after a node loss) the bucket cannot be read for a few seconds:
  // the supervisors read last stand in for it, rather than a quiet gap that the slower ones miss.
  let lastRead: ReadonlyArray<string> | undefined
  return {
    ids: kv.pipe(
      Effect.flatMap((members) => memberIds(nc, members, prefix)),
      // never read yet: a bucket that exists is worth a few tries (no JetStream, or no bucket, is an answer)
      Effect.retry({
        while: (why) => lastRead === undefined && nc.info?.jetstream === true && !/not found/i.test(why),
        schedule: Schedule.spaced("300 millis"),
        times: 6
      }),
      Effect.tap((ids) =>
        Effect.sync(() => {
          lastRead = ids
        })
      ),
      Effect.catch(() => Effect.succeed(lastRead))
    )
  }
}

/**
 * How long a scatter-gather waits: for as many answers as there are announced supervisors and then a
 * short quiet gap (at most 100 ms) for any not announced; else, with no membership, until a quiet gap.
 */
export const gatherPlan = (
  expected: ReadonlyArray<string> | undefined,
  quietMs: number,
  timeoutMs: number
):
  | { strategy: "announced"; count: number; quietMs: number; maxWait: number }
  | { strategy: "stall"; stall: number; maxWait: number } =>
  expected === undefined
    ? { strategy: "stall", stall: quietMs, maxWait: timeoutMs }
    : { strategy: "announced", count: expected.length, quietMs: Math.min(quietMs, 100), maxWait: timeoutMs }
