// Running a supervisor tree from the CLI: `supervise` with a config file, and `up`, which serves the bundled
// example on the given NATS or, when none is given and nothing answers on the default address, on its own nats-server.
// Credentials: flags, then the nats CLI's environment variables, then the config file.
import { fileURLToPath } from "node:url"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import { DEFAULT_SERVER, natsConnection, serverList } from "../nats/connection.js"
import { authFromEnv, mergeAuth, showServers } from "../nats/credentials.js"
import type { NatsAuth } from "../protocol/auth.js"
import { messageOf } from "../protocol/values.js"
import { type Config, ConfigError, loadConfig } from "../supervisor/config.js"
import { ActorLauncher } from "../supervisor/runtime/actorLauncher.js"
import { startSupervisorProcess } from "../supervisor/runtime/supervisorProcess.js"
import { type LocalNatsServer, NatsPortUnavailable, startLocalNatsServer } from "./natsServer.js"
import { chooseServers, DEFAULT_PORT, exportHint, ServerSource, tryCommand } from "./serverChoice.js"

export class NatsServerUnavailable extends Schema.TaggedError<NatsServerUnavailable>()("NatsServerUnavailable", {
  message: Schema.String
}) {}

/** The config `modelbus up` serves when none is given: the Iris example. */
export const EXAMPLE_CONFIG = fileURLToPath(new URL("../../examples/iris/modelbus.yaml", import.meta.url))

/** The servers as shown in the ready line: credentials in a URL masked. */
const serverText = (servers: string | ReadonlyArray<string>) => showServers(serverList(servers))

/** The credentials a supervisor uses: each setting from the flags, else the environment, else the config file. */
const authOf = (flags: NatsAuth, config: Config): NatsAuth => mergeAuth(flags, authFromEnv(), config.auth)

/** Environment fallback of `--metrics-port` (the Docker image sets it, so its HEALTHCHECK has a port to ask). */
export const METRICS_PORT_ENV = "MODELBUS_METRICS_PORT"

/** The config with the metrics port of `--metrics-port`, else of $MODELBUS_METRICS_PORT, else its own. */
const withMetricsPort = (config: Config, flag: number | undefined): Effect.Effect<Config, ConfigError> => {
  const fromEnv = process.env[METRICS_PORT_ENV]
  if (flag === undefined && (fromEnv === undefined || fromEnv === "")) return Effect.succeed(config)
  const port = flag ?? Number(fromEnv)
  if (!Number.isInteger(port) || port < 0 || port > 65_535) {
    const source = flag === undefined ? `$${METRICS_PORT_ENV}` : "--metrics-port"
    return Effect.fail(
      new ConfigError({ path: source, message: `${source} must be a port number from 0 to 65535, not ${port}` })
    )
  }
  return Effect.succeed({ ...config, metrics: { port } })
}

/**
 * Runs the tree until a signal (graceful, exit 0), a model that cannot start (StartFailed, exit 1)
 * or the root giving up (IntensityExceeded, exit 1).
 */
export const superviseUntilDone = Effect.fnUntraced(function* (
  config: Config,
  servers: string | ReadonlyArray<string>,
  auth: NatsAuth,
  tryModel?: string
) {
  return yield* Effect.scoped(
    Effect.gen(function* () {
      const tree = yield* startSupervisorProcess(config, servers, auth)
      if (tree.metricsPort !== undefined)
        yield* Console.log(`modelbus metrics: /metrics, /healthz and /readyz on port ${tree.metricsPort}`)
      const ready = tree.started.pipe(
        Effect.andThen(() => {
          const replicas = config.models.map((m) => `${m.name} ×${m.replicas}`).join(", ")
          const hint = tryModel === undefined ? "" : `\n  try: ${tryCommand(tryModel, servers, serverText(servers))}`
          return Console.log(
            `modelbus ready: supervisor ${tree.id} serving ${replicas} on ${serverText(servers)}${hint}`
          )
        })
      )
      yield* ready
      return yield* tree.failure
    })
  ).pipe(Effect.provide(ActorLauncher.layer))
})

/** `modelbus supervise --config F`: the server is --server, else $NATS_URL, else the file's, else the default. */
export const supervise = Effect.fnUntraced(function* (
  configFile: string,
  server: string | undefined,
  flags: NatsAuth,
  metricsPort?: number
) {
  const config = yield* withMetricsPort(yield* loadConfig(configFile), metricsPort)
  yield* superviseUntilDone(
    config,
    chooseServers(server, process.env.NATS_URL, config.servers).servers,
    authOf(flags, config)
  )
})

/** Something answers at `servers`: a connection succeeds, or a server refuses these credentials. */
const answers = (servers: string, auth: NatsAuth) =>
  Effect.scoped(natsConnection({ servers, name: "modelbus-probe", connectTimeoutMs: 1_000, auth })).pipe(
    Effect.as(true),
    Effect.catch((error) => Effect.succeed(/authorization|authentication/i.test(error.message)))
  )

/** A local nats-server for the scope (on `port`, else a free one): a port it cannot bind stays `NatsPortUnavailable`. */
const localServer = (port?: number) =>
  Effect.acquireRelease(
    Effect.tryPromise({
      try: () => startLocalNatsServer(port === undefined ? {} : { port }),
      catch: (error) =>
        error instanceof NatsPortUnavailable ? error : new NatsServerUnavailable({ message: messageOf(error) })
    }),
    (server) => Effect.promise(() => server.stop())
  )

/**
 * A local nats-server with JetStream on the default port, so every command finds it with no flag; on a free port
 * when that one cannot be bound (another program holds it), telling the user which NATS_URL to export.
 */
const ownNatsServer: Effect.Effect<LocalNatsServer, NatsServerUnavailable, Scope.Scope> = localServer(
  DEFAULT_PORT
).pipe(
  Effect.catchIf(
    (error): error is NatsPortUnavailable => error instanceof NatsPortUnavailable,
    (error) =>
      localServer().pipe(
        Effect.tap((server) => Console.log(exportHint(server.url, error.message))),
        Effect.catchIf(
          (again): again is NatsPortUnavailable => again instanceof NatsPortUnavailable,
          (again) => Effect.fail(new NatsServerUnavailable({ message: again.message }))
        )
      )
  )
)

/**
 * `modelbus up`: the servers are --server, else $NATS_URL, else the config's, else the default address; given
 * ones must answer; when none is given and nothing answers on the default address, `up` starts its own.
 */
export const up = Effect.fnUntraced(function* (
  configFile: string | undefined,
  server: string | undefined,
  flags: NatsAuth,
  metricsPort?: number
) {
  const config = yield* withMetricsPort(yield* loadConfig(configFile ?? EXAMPLE_CONFIG), metricsPort)
  const chosen = chooseServers(server, process.env.NATS_URL, config.servers)
  const tryModel = config.models[0]?.name
  const auth = authOf(flags, config)
  if (chosen.source !== ServerSource.default || (yield* answers(DEFAULT_SERVER, auth))) {
    return yield* superviseUntilDone(config, chosen.servers, auth, tryModel)
  }
  yield* Console.log(`nothing answers on ${DEFAULT_SERVER}; starting a local nats-server with JetStream`)
  return yield* Effect.scoped(
    Effect.gen(function* () {
      const local = yield* ownNatsServer
      // a local server asks for no credentials
      return yield* superviseUntilDone(config, local.url, {}, tryModel)
    })
  )
})
