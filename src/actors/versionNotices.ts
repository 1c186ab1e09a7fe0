// The bus's word that a model has a new version: a core NATS subscription for as long as the scope is
// open, as a stream of notices (what they say is read from the registry, not trusted from the message);
// and the connection's return after a loss, when such a notice may have been missed.
import type { NatsConnection } from "@nats-io/transport-node"
import { Effect, type Scope, Stream } from "effect"

/** Notices published on `subject` from now until the scope closes. */
export const versionNotices = (
  nc: NatsConnection,
  subject: string
): Effect.Effect<Stream.Stream<void>, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.sync(() => nc.subscribe(subject)),
    (sub) => Effect.sync(() => sub.unsubscribe())
  ).pipe(
    Effect.map((sub) =>
      Stream.fromAsyncIterable(sub, () => undefined).pipe(
        Stream.map(() => undefined),
        Stream.catch(() => Stream.empty)
      )
    )
  )

/**
 * A notice each time the connection is back after it was lost: a replica that was cut off while a
 * version (or a canary's end) was announced missed the notice, and its registry watch may have ended
 * with the lost server; it reads the registry again instead.
 */
export const reconnectNotices = (nc: NatsConnection): Stream.Stream<void> =>
  Stream.fromAsyncIterable(nc.status(), () => undefined).pipe(
    Stream.filter((status) => status.type === "reconnect"),
    Stream.map(() => undefined),
    Stream.catch(() => Stream.empty)
  )
