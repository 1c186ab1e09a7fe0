// Whether the connected NATS server offers JetStream to this account: asked once by the
// supervisor (to turn the registry on) and by the registry (to explain why it is unavailable).
import { jetstreamManager } from "@nats-io/jetstream"
import type { NatsConnection } from "@nats-io/transport-node"
import * as Effect from "effect/Effect"
import { messageOf } from "../protocol/values.js"

/** Succeeds when JetStream answers for this account; fails with the server's reason (text) when not. */
export const checkJetStream = (nc: NatsConnection, timeoutMs = 3_000): Effect.Effect<void, string> =>
  Effect.tryPromise({
    try: async () => {
      await (await jetstreamManager(nc, { timeout: timeoutMs })).getAccountInfo()
    },
    catch: messageOf
  })

/** True when JetStream answers for this account. */
export const hasJetStream = (nc: NatsConnection): Effect.Effect<boolean> =>
  checkJetStream(nc).pipe(
    Effect.as(true),
    Effect.catch(() => Effect.succeed(false))
  )
