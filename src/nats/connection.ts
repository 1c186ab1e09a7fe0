// The NATS connection as a scoped resource: opened with the project's defaults (a list of servers
// tried in order, reconnect for ever with jittered waits, a name for monitoring, credentials and TLS),
// drained when its scope closes; what it says about a failure never holds a secret.
import { type ConnectionOptions, connect, type NatsConnection } from "@nats-io/transport-node"
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import { type NatsAuth, redact } from "../protocol/auth.js"
import { ConnectionError } from "../protocol/errors.js"
import { messageOf } from "../protocol/values.js"
import { connectAuth, showServers } from "./credentials.js"
import { livenessOf, silentServers } from "./liveness.js"
import { tlsRefusal } from "./tlsRefusal.js"

export const DEFAULT_SERVER = "nats://127.0.0.1:4222"

/** `--server`, else `$NATS_URL`, else the local default, like the `nats` CLI. */
export const defaultServers = (env: NodeJS.ProcessEnv = process.env): string =>
  env.NATS_URL === undefined || env.NATS_URL.trim() === "" ? DEFAULT_SERVER : env.NATS_URL

export interface NatsOptions {
  readonly servers: string | ReadonlyArray<string>
  readonly name: string
  /** Give up connecting after this long at first connect (default 5 s). */
  readonly connectTimeoutMs?: number
  /** Credentials and TLS files; those written in a server URL are used when these do not say. */
  readonly auth?: NatsAuth
}

/** Reconnect waits: 250 ms plus up to 250 ms of jitter, so clients of a lost node do not return in lockstep. */
export const RECONNECT = { waitMs: 250, jitterMs: 250 } as const

/** A silent server (a cut link: no TCP reset) is given up after this many unanswered pings, this far apart. */
export const PING = { intervalMs: 5_000, maxOut: 2 } as const

/** The servers as a list: a comma-separated string (like the `nats` CLI's `-s`) or an array. */
export const serverList = (servers: string | ReadonlyArray<string>): Array<string> =>
  (typeof servers === "string" ? servers.split(",") : [...servers]).map((s) => s.trim()).filter((s) => s.length > 0)

/**
 * Opens a connection; it is drained (pending replies flushed) when the scope closes. Its server is
 * checked every second (see liveness.ts): one silent for longer than a short timeout is left for
 * another, in about 2 s, not after the unanswered pings below.
 */
/**
 * nats.js's connect; with TLS but no client certificate, a server that requires one is asked beside it
 * (see tlsRefusal.ts), so its refusal is told at once, naming the cause, instead of a timeout.
 */
const connectTelling = async (connectOptions: ConnectionOptions): Promise<NatsConnection> => {
  const tls = connectOptions.tls
  const connecting = connect(connectOptions)
  if (tls === undefined || tls === null || tls.certFile !== undefined || tls.cert !== undefined) return connecting
  const first = [connectOptions.servers ?? []].flat()[0]
  if (first === undefined) return connecting
  const hostPort = first.replace(/^[a-z]+:\/\//i, "").replace(/\/.*$/, "")
  const refused = tlsRefusal(hostPort, tls.caFile, connectOptions.timeout).then((why) =>
    why === undefined
      ? new Promise<never>(() => {})
      : Promise.reject(
          new Error(
            `the server refused TLS without a client certificate (${why}): give one with --tlscert/--tlskey, NATS_CERT/NATS_KEY or nats.tls.cert/key in the config`
          )
        )
  )
  // a connection that succeeds after all (the refusal came too late to matter) is closed, not leaked
  return Promise.race([connecting, refused]).catch((error: unknown) => {
    connecting.then((nc) => nc.close()).catch(() => undefined)
    throw error
  })
}

export const natsConnection = (options: NatsOptions): Effect.Effect<NatsConnection, ConnectionError, Scope.Scope> => {
  const silent = silentServers()
  return Effect.acquireRelease(
    Effect.tryPromise({
      try: () =>
        connectTelling({
          ...connectAuth(serverList(options.servers), options.auth),
          name: options.name,
          timeout: options.connectTimeoutMs ?? 5_000,
          // The list is an order of preference (a supervisor lists its own host's node first); the
          // servers a cluster announces are added to it, so any live node will do after a loss.
          noRandomize: true,
          maxReconnectAttempts: -1,
          reconnectTimeWait: RECONNECT.waitMs,
          reconnectJitter: RECONNECT.jitterMs,
          pingInterval: PING.intervalMs,
          maxPingOut: PING.maxOut,
          reconnectToServer: silent.pick
        }),
      catch: (cause) =>
        new ConnectionError({
          message: redact(`cannot connect to NATS at ${showServers(serverList(options.servers))}: ${messageOf(cause)}`)
        })
    }).pipe(Effect.tap((nc) => Effect.sync(() => livenessOf(nc, true, (_ms, server) => silent.mark(server))))),
    (nc) => Effect.promise(() => (nc.isClosed() ? Promise.resolve() : nc.drain().catch(() => nc.close())))
  )
}
