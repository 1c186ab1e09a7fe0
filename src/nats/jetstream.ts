// Whether the connected NATS server offers JetStream to this account, and what a failed JetStream
// call means there: no JetStream, leaders being elected (wait), or a cluster that lost its quorum.
import { jetstreamManager } from "@nats-io/jetstream"
import type { NatsConnection } from "@nats-io/transport-node"
import * as Effect from "effect/Effect"
import * as Schedule from "effect/Schedule"
import { messageOf } from "../protocol/values.js"

/** Succeeds when JetStream answers for this account; fails with the server's reason (text) when not. */
export const checkJetStream = (nc: NatsConnection, timeoutMs = 3_000): Effect.Effect<void, string> =>
  Effect.tryPromise({
    try: async () => {
      await (await jetstreamManager(nc, { timeout: timeoutMs })).getAccountInfo()
    },
    catch: messageOf
  })

/**
 * True when JetStream answers for this account. A server whose INFO says it has JetStream is asked
 * again for up to `patienceMs` (its cluster may be electing leaders); one that says not, only once.
 */
export const hasJetStream = (nc: NatsConnection, patienceMs = 20_000): Effect.Effect<boolean> =>
  checkJetStream(nc).pipe(
    Effect.retry({
      while: () => nc.info?.jetstream === true,
      schedule: Schedule.spaced("500 millis").pipe(Schedule.upTo({ times: Math.ceil(patienceMs / 3_500) }))
    }),
    Effect.as(true),
    Effect.catch(() => Effect.succeed(false))
  )

/** What a JetStream failure means on this connection's server now. */
export type JetStreamTrouble =
  | { readonly kind: "absent" }
  | { readonly kind: "electing" }
  | { readonly kind: "quorumLost"; readonly alive: number; readonly of: number }

const clusterSizes = new WeakMap<NatsConnection, number>()

/**
 * The nodes of the server's cluster it has routes to now, itself included (its INFO's client URLs,
 * updated as routes come and go), and the most this connection has seen: the cluster's size.
 */
export const clusterNodes = (nc: NatsConnection): { readonly alive: number; readonly of: number } => {
  const alive = Math.max(1, nc.info?.connect_urls?.length ?? 1)
  const of = Math.max(alive, clusterSizes.get(nc) ?? 0)
  clusterSizes.set(nc, of)
  return { alive, of }
}

/**
 * A failed JetStream call on `nc`: the server has no JetStream (nothing to wait for); a clustered one
 * with fewer than a majority of its nodes (quorum lost: no leader can be elected until nodes return);
 * else leaders are being elected (a node was lost a moment ago): worth waiting for.
 */
export const jetStreamTrouble = (nc: NatsConnection): JetStreamTrouble => {
  if (nc.info?.jetstream !== true) return { kind: "absent" }
  const { alive, of } = clusterNodes(nc)
  return nc.info.cluster !== undefined && alive <= of / 2 ? { kind: "quorumLost", alive, of } : { kind: "electing" }
}

/** What the caller is told about `trouble`. */
export const troubleText = (trouble: JetStreamTrouble): string => {
  switch (trouble.kind) {
    case "absent":
      return "no JetStream on this NATS server"
    case "electing":
      return "JetStream electing leaders (try again)"
    case "quorumLost":
      return `JetStream quorum lost (${trouble.alive} of ${trouble.of} nodes)`
  }
}
