// The config (JSON or YAML file): reading and decoding it, the defaults, model paths resolved
// against the file's folder, and the child specs it gives the tree.
import { readFile } from "node:fs/promises"
import { availableParallelism } from "node:os"
import { dirname, extname, resolve } from "node:path"
import { Effect, Schema } from "effect"
import { parse as parseYaml } from "yaml"
import { authProblem, resolveAuthPaths } from "../nats/credentials.js"
import { type NatsAuth, rememberSecret } from "../protocol/auth.js"
import { type BatchingOptions, DEFAULT_BATCHING } from "../protocol/ipc.js"
import { DEFAULT_PREFIX } from "../protocol/subjects.js"
import { isRecord, messageOf } from "../protocol/values.js"
import { DEFAULT_RETENTION } from "../registry/Registry.js"
import { ConfigFile, type SupervisorEntry } from "./configFile.js"
import { type AutoscalePolicy, autoscalePolicyOf, policyProblem } from "./machine/autoscalePolicy.js"
import { type BackoffPolicy, DEFAULT_BACKOFF } from "./machine/backoff.js"
import { type ChildSpec, RestartType, type Shutdown } from "./machine/childSpec.js"
import type { RecycleLimits } from "./machine/recycle.js"
import { DEFAULT_STANDBY } from "./machine/standbyPolicy.js"
import type { SupervisorFlags } from "./machine/state.js"
import { Strategy } from "./machine/strategy.js"

export { ConfigFile } from "./configFile.js"

export class ConfigError extends Schema.TaggedError<ConfigError>()("ConfigError", {
  path: Schema.String,
  message: Schema.String
}) {}

/** How one supervisor in the tree restarts its children (OTP's supervisor flags). */
export type SupervisorPolicy = SupervisorFlags

export interface ModelConfig {
  readonly name: string
  readonly path: string
  readonly replicas: number
  readonly restart: RestartType
  readonly shutdown: Shutdown
  readonly heartbeatMs: number
  /** A replica silent this long is killed and restarted as a crash. */
  readonly hangTimeoutMs: number
  /** A new replica that has not reported at all this long (still starting its runtime) is killed as hung. */
  readonly startTimeoutMs: number
  readonly maxPayloadBytes?: number
  /** Requests a replica accepts before it leaves the queue group until it has room. */
  readonly maxInflight?: number
  readonly batching: BatchingOptions
  readonly supervisor: SupervisorPolicy
  readonly backoff: BackoffPolicy
  readonly recycle?: RecycleLimits
  /** When set, the replica count follows load inside it; `replicas` is the count to start with. */
  readonly autoscale?: AutoscalePolicy
  /** ONNX Runtime settings for an ONNX model (threads per call). */
  readonly onnx?: { readonly intraOpNumThreads?: number }
}

export interface Config {
  readonly servers?: string | ReadonlyArray<string>
  /** The file's credentials and TLS files (paths made absolute); flags and environment win over them. */
  readonly auth?: NatsAuth
  readonly prefix: string
  /** The root's policy over the model supervisors (escalation target). */
  readonly root: SupervisorPolicy
  /** Standby processes the supervisor keeps warm to take a slot that needs a process (0: none). */
  readonly standby: number
  /** Actors this supervisor may run across its models, standbys excluded; autoscaling stays inside it. */
  readonly maxActors: number
  /** Model versions on JetStream: used when the server has it, unless mode is off. */
  readonly registry: {
    readonly mode: "auto" | "off"
    readonly retention: number
    /** Replicas of the registry's streams; undefined: decided from the cluster. */
    readonly replicas?: number
  }
  /** Serve /metrics, /healthz and /readyz on this port (0: a free one). */
  readonly metrics?: { readonly port: number }
  readonly models: ReadonlyArray<ModelConfig>
}

export const DEFAULTS = {
  strategy: Strategy.one_for_one,
  intensity: 3,
  periodSeconds: 10,
  replicas: 1,
  restart: RestartType.permanent,
  shutdownMs: 10_000,
  heartbeatMs: 1_000,
  hangTimeoutMs: 30_000,
  startTimeoutMs: 60_000
} as const

const policyOf = (entry: SupervisorEntry | undefined, fallback: SupervisorPolicy): SupervisorPolicy => ({
  strategy: entry?.strategy ?? fallback.strategy,
  intensity: entry?.intensity ?? fallback.intensity,
  periodMs: entry?.period === undefined ? fallback.periodMs : entry.period * 1000
})

const authEntry = ({ servers: _, ...auth }: NonNullable<ConfigFile["nats"]>, baseDir: string) =>
  Object.keys(auth).length === 0 ? {} : { auth: resolveAuthPaths(auth, baseDir) }

/** Applies the defaults and resolves model paths against `baseDir` (pure; `cores` is the default `maxActors`). */
export const resolveConfig = (file: ConfigFile, baseDir: string, cores: number = availableParallelism()): Config => {
  const maxActors = file.supervisor?.maxActors ?? cores
  const root = policyOf(file.supervisor, {
    strategy: DEFAULTS.strategy,
    intensity: DEFAULTS.intensity,
    periodMs: DEFAULTS.periodSeconds * 1000
  })
  return {
    ...(file.nats?.servers === undefined ? {} : { servers: file.nats.servers }),
    ...(file.nats === undefined ? {} : authEntry(file.nats, baseDir)),
    prefix: file.prefix ?? DEFAULT_PREFIX,
    root,
    standby: file.supervisor?.standby ?? DEFAULT_STANDBY,
    maxActors,
    registry: {
      mode: file.registry?.mode ?? "auto",
      retention: file.registry?.retention ?? DEFAULT_RETENTION,
      ...(file.registry?.replicas === undefined ? {} : { replicas: file.registry.replicas })
    },
    ...(file.metrics === undefined ? {} : { metrics: { port: file.metrics.port } }),
    models: file.models.map((m) => ({
      name: m.name,
      path: resolve(baseDir, m.path),
      replicas:
        m.replicas ?? (m.autoscale === undefined ? DEFAULTS.replicas : autoscalePolicyOf(m.autoscale, maxActors).min),
      restart: m.restart ?? DEFAULTS.restart,
      shutdown: m.shutdown ?? DEFAULTS.shutdownMs,
      heartbeatMs: m.heartbeatMs ?? DEFAULTS.heartbeatMs,
      hangTimeoutMs: m.hangTimeoutMs ?? DEFAULTS.hangTimeoutMs,
      startTimeoutMs: m.startTimeoutMs ?? DEFAULTS.startTimeoutMs,
      ...(m.maxPayloadBytes === undefined ? {} : { maxPayloadBytes: m.maxPayloadBytes }),
      ...(m.maxInflight === undefined ? {} : { maxInflight: m.maxInflight }),
      batching: { ...DEFAULT_BATCHING, ...m.batching },
      supervisor: policyOf(m.supervisor, root),
      backoff: { ...DEFAULT_BACKOFF, ...m.backoff },
      ...(m.recycle === undefined ? {} : { recycle: m.recycle }),
      ...(m.autoscale === undefined ? {} : { autoscale: autoscalePolicyOf(m.autoscale, maxActors) }),
      ...(m.onnx === undefined ? {} : { onnx: m.onnx })
    }))
  }
}

/** The child spec of replica number `index` (1-based) of a model. */
export const replicaSpec = (model: ModelConfig, index: number): ChildSpec => ({
  id: `${model.name}-${index}`,
  restart: model.restart,
  shutdown: model.shutdown,
  type: "worker",
  hangTimeoutMs: model.hangTimeoutMs,
  startTimeoutMs: model.startTimeoutMs,
  backoff: model.backoff,
  ...(model.recycle === undefined ? {} : { recycle: model.recycle })
})

/** The child spec of a model's supervisor under the root: restarted by the root's strategy, stopped in order. */
export const modelSupervisorSpec = (model: ModelConfig): ChildSpec => ({
  id: model.name,
  restart: "permanent",
  shutdown: "infinity",
  type: "supervisor"
})

const decodeConfigFile = Schema.decodeUnknownEffect(ConfigFile)

/** The file's secrets are masked in any message from now on, even in an error about their own type. */
const rememberSecretsOf = (raw: unknown) => {
  const nats = isRecord(raw) && isRecord(raw.nats) ? raw.nats : {}
  for (const key of ["password", "token"]) {
    const value = nats[key]
    if (typeof value === "string" || typeof value === "number") rememberSecret(String(value))
  }
}

/** The first model whose autoscaling policy the config must refuse, as a message naming the key. */
const autoscaleProblem = (config: Config): string | undefined => {
  for (const [i, model] of config.models.entries()) {
    if (model.autoscale === undefined && model.replicas === 0)
      return `model "${model.name}": replicas 0 needs autoscale with min 0 (else nothing would ever answer it)\n  at ["models"][${i}]["replicas"]`
    if (model.autoscale === undefined) continue
    const problem = policyProblem(model.autoscale, model.replicas, config.maxActors)
    if (problem === undefined) continue
    const at = problem.key === "replicas" ? `["replicas"]` : `["autoscale"]["${problem.key}"]`
    return `model "${model.name}": ${problem.message}\n  at ["models"][${i}]${at}`
  }
  return undefined
}

/** Checks a parsed config value; `path` names the file in error messages. */
export const decodeConfig = (raw: unknown, path: string): Effect.Effect<Config, ConfigError> =>
  Effect.sync(() => rememberSecretsOf(raw)).pipe(
    Effect.andThen(decodeConfigFile(raw, { onExcessProperty: "error", errors: "all" })),
    Effect.mapError((error) => new ConfigError({ path, message: `invalid config ${path}: ${error.message}` })),
    Effect.flatMap((file) => {
      const seen = new Set<string>()
      const duplicate = file.models.find((m) => seen.size === seen.add(m.name).size)
      const auth = file.nats === undefined ? undefined : authProblem(file.nats)
      if (auth !== undefined)
        return Effect.fail(new ConfigError({ path, message: `invalid config ${path}: ${auth}\n  at ["nats"]` }))
      if (duplicate !== undefined)
        return Effect.fail(
          new ConfigError({
            path,
            message: `invalid config ${path}: model name "${duplicate.name}" appears twice\n  at ["models"]`
          })
        )
      const config = resolveConfig(file, dirname(path))
      const problem = autoscaleProblem(config)
      return problem === undefined
        ? Effect.succeed(config)
        : Effect.fail(new ConfigError({ path, message: `invalid config ${path}: ${problem}` }))
    })
  )

/** Reads and checks a JSON or YAML config file. */
export const loadConfig = Effect.fn("Config.load")(function* (file: string) {
  const path = resolve(file)
  const text = yield* Effect.tryPromise({
    try: () => readFile(path, "utf8"),
    catch: (cause) =>
      new ConfigError({
        path,
        message: `cannot read config ${path}: ${messageOf(cause)}`
      })
  })
  const raw = yield* Effect.try({
    try: () => (extname(path).toLowerCase() === ".json" ? JSON.parse(text) : parseYaml(text)),
    catch: (cause) =>
      new ConfigError({
        path,
        message: `config ${path} is not valid ${extname(path) === ".json" ? "JSON" : "YAML"}: ${messageOf(cause)}`
      })
  })
  return yield* decodeConfig(raw, path)
})
