// The NATS connection as a scoped resource: opened with the project's defaults (reconnect for
// ever, a name for monitoring), drained when its scope closes; failures are ConnectionError.
import { connect, type NatsConnection } from "@nats-io/transport-node"
import { Effect, type Scope } from "effect"
import { ConnectionError } from "../protocol/errors.js"
import { messageOf } from "../protocol/values.js"

export const DEFAULT_SERVER = "nats://127.0.0.1:4222"

/** `--server`, else `$NATS_URL`, else the local default, like the `nats` CLI. */
export const defaultServers = (env: NodeJS.ProcessEnv = process.env): string => env.NATS_URL ?? DEFAULT_SERVER

export interface NatsOptions {
  readonly servers: string | ReadonlyArray<string>
  readonly name: string
  /** Give up connecting after this long at first connect (default 5 s). */
  readonly connectTimeoutMs?: number
}

const serverList = (servers: string | ReadonlyArray<string>) =>
  (typeof servers === "string" ? servers.split(",") : [...servers]).map((s) => s.trim()).filter((s) => s.length > 0)

/** Opens a connection; it is drained (pending replies flushed) when the scope closes. */
export const natsConnection = (options: NatsOptions): Effect.Effect<NatsConnection, ConnectionError, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.tryPromise({
      try: () =>
        connect({
          servers: serverList(options.servers),
          name: options.name,
          timeout: options.connectTimeoutMs ?? 5_000,
          maxReconnectAttempts: -1,
          reconnectTimeWait: 250
        }),
      catch: (cause) =>
        new ConnectionError({
          message: `cannot connect to NATS at ${serverList(options.servers).join(", ")}: ${messageOf(cause)}`
        })
    }),
    (nc) => Effect.promise(() => (nc.isClosed() ? Promise.resolve() : nc.drain().catch(() => nc.close())))
  )
