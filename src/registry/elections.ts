// Riding through JetStream leader elections: a registry call that fails while the cluster elects
// leaders (after a node loss) is tried again until its patience runs out; what it fails with then
// says which: no JetStream on this server, JetStream electing leaders, or quorum lost (N of M nodes).
import type { NatsConnection } from "@nats-io/transport-node"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import { type JetStreamTrouble, jetStreamTrouble, troubleText } from "../nats/jetstream.js"
import { messageOf } from "../protocol/values.js"
import { RegistryUnavailable } from "./errors.js"

/** How long a registry call keeps trying through an election by default (they take a few seconds). */
export const DEFAULT_PATIENCE_MS = 20_000

/** Failures no election explains: an answer, not silence (a refused right, a lost compare-and-swap, a bad request). */
const FINAL =
  /permission|authorization|wrong last sequence|key exists|not found|bad request|invalid|insufficient resources|no suitable peers|maximum|exceeded/i

export const isFinal = (error: unknown): boolean => FINAL.test(messageOf(error))

/** The first retry waits this long, each later one twice as long, up to MAX_GAP_MS. */
const FIRST_GAP_MS = 100
const MAX_GAP_MS = 1_000

/** The RegistryUnavailable for `what` failing with `error` in `trouble`. */
export const unavailableIn = (trouble: JetStreamTrouble, what: string, error: unknown, waitedMs?: number) =>
  new RegistryUnavailable({
    message:
      trouble.kind === "absent"
        ? `${troubleText(trouble)}: start nats-server with -js (or a jetstream {} block in its config) to use model updates; serving from the config's path works without it (registry ${what}: ${messageOf(error)})`
        : `${troubleText(trouble)}: registry ${what} failed${waitedMs === undefined ? "" : ` for ${(waitedMs / 1000).toFixed(1)} s`}: ${messageOf(error)}`,
    reason: trouble.kind
  })

/**
 * Runs `effect` and, while it fails with an error no election rules out on a server that has
 * JetStream, again after a growing gap (100 ms doubling to 1 s) until `patienceMs` has passed since
 * the first try. A final error, or JetStream absent, fails at once with what `final` makes of it;
 * time up fails with the trouble as it stands then.
 */
export const throughElections = <A, E, E2>(
  nc: NatsConnection,
  what: string,
  effect: Effect.Effect<A, E>,
  patienceMs: number,
  final: (error: E) => E2
): Effect.Effect<A, E2 | RegistryUnavailable> =>
  Effect.gen(function* () {
    const started = yield* Clock.currentTimeMillis
    let gap = FIRST_GAP_MS
    for (;;) {
      const result = yield* Effect.result(effect)
      if (result._tag === "Success") return result.success
      const error = result.failure
      const trouble = jetStreamTrouble(nc)
      if (isFinal(error) || trouble.kind === "absent") return yield* Effect.fail(final(error))
      const waited = (yield* Clock.currentTimeMillis) - started
      if (waited + gap > patienceMs) return yield* unavailableIn(trouble, what, error, waited)
      yield* Effect.sleep(gap)
      gap = Math.min(gap * 2, MAX_GAP_MS)
    }
  })

/** A JetStream call as an Effect tried through elections; its failure is RegistryUnavailable saying why. */
export const attemptOn =
  (nc: NatsConnection, patienceMs: number = DEFAULT_PATIENCE_MS) =>
  <A>(what: string, run: () => Promise<A>): Effect.Effect<A, RegistryUnavailable> =>
    throughElections(nc, what, Effect.tryPromise({ try: run, catch: (error) => error }), patienceMs, (error) =>
      isFinal(error)
        ? new RegistryUnavailable({ message: `registry ${what} failed: ${messageOf(error)}` })
        : unavailableIn(jetStreamTrouble(nc), what, error)
    )
