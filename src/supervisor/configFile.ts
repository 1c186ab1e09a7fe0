// The config file's schema: every key with its type and bounds, unknown keys rejected by path
// (decoded with onExcessProperty "error"); what the file may say, before defaults are applied.
import { Schema } from "effect"
import { AUTO_BATCH_SIZE } from "../protocol/ipc.js"
import { isModelName, isSubjectPrefix } from "../protocol/subjects.js"
import { RestartType } from "./machine/childSpec.js"
import { Strategy } from "./machine/strategy.js"

const PositiveInt = Schema.Int.check(Schema.isGreaterThanOrEqualTo(1))
const NonNegativeInt = Schema.Int.check(Schema.isGreaterThanOrEqualTo(0))

export const SupervisorEntry = Schema.Struct({
  strategy: Schema.optionalKey(Schema.Literals([Strategy.one_for_one, Strategy.one_for_all, Strategy.rest_for_one])),
  intensity: Schema.optionalKey(NonNegativeInt),
  period: Schema.optionalKey(Schema.Number.check(Schema.isGreaterThan(0)))
})

/** The root's flags, plus what only a whole supervisor process has: its pool of warm standby processes. */
const RootSupervisorEntry = Schema.Struct({
  ...SupervisorEntry.fields,
  /** Standby processes kept warm (runtime up, NATS connected, no model) to take a slot at once; 0 turns them off. */
  standby: Schema.optionalKey(Schema.Int.check(Schema.isBetween({ minimum: 0, maximum: 16 }))),
  /** Actors this supervisor may run across its models, standbys excluded (default: the host's cores); autoscaling stays inside it. */
  maxActors: Schema.optionalKey(PositiveInt)
})

const BackoffEntry = Schema.Struct({
  initialMs: Schema.optionalKey(NonNegativeInt),
  maxMs: Schema.optionalKey(NonNegativeInt),
  jitter: Schema.optionalKey(Schema.Number.check(Schema.isBetween({ minimum: 0, maximum: 1 }))),
  resetAfterMs: Schema.optionalKey(NonNegativeInt)
})

const RecycleEntry = Schema.Struct({
  afterRequests: Schema.optionalKey(PositiveInt),
  maxRssMb: Schema.optionalKey(Schema.Number.check(Schema.isGreaterThan(0))),
  maxTensors: Schema.optionalKey(PositiveInt)
})

/** Replicas follow load between min and max; every key may be left out (see DEFAULT_AUTOSCALE). */
const AutoscaleEntry = Schema.Struct({
  /** 0: the model stops every replica when idle and wakes on its next request. */
  min: Schema.optionalKey(NonNegativeInt),
  max: Schema.optionalKey(PositiveInt),
  /** Requests in flight (queued and running) wanted per replica. */
  targetInflight: Schema.optionalKey(Schema.Number.check(Schema.isGreaterThan(0))),
  upscaleDelayMs: Schema.optionalKey(NonNegativeInt),
  downscaleDelayMs: Schema.optionalKey(NonNegativeInt),
  lookbackMs: Schema.optionalKey(PositiveInt),
  /** Requests held while the model has no replica; past it they get Overloaded. */
  maxHeldRequests: Schema.optionalKey(PositiveInt),
  /** Bytes of request bodies held while the model has no replica; past it they get Overloaded. */
  maxHeldBytes: Schema.optionalKey(PositiveInt)
})

const ModelEntry = Schema.Struct({
  name: Schema.String.check(
    Schema.makeFilter(
      (s: string) => isModelName(s) || "a model name of letters, digits, _ or - (one NATS subject token)"
    )
  ),
  path: Schema.String.check(Schema.isNonEmpty()),
  /** 0 only with `autoscale.min: 0` (checked after decoding). */
  replicas: Schema.optionalKey(NonNegativeInt),
  restart: Schema.optionalKey(Schema.Literals([RestartType.permanent, RestartType.transient, RestartType.temporary])),
  shutdown: Schema.optionalKey(Schema.Union([NonNegativeInt, Schema.Literal("brutal_kill")])),
  heartbeatMs: Schema.optionalKey(PositiveInt),
  hangTimeoutMs: Schema.optionalKey(PositiveInt),
  startTimeoutMs: Schema.optionalKey(PositiveInt),
  maxPayloadBytes: Schema.optionalKey(PositiveInt),
  maxInflight: Schema.optionalKey(PositiveInt),
  batching: Schema.optionalKey(
    Schema.Struct({
      /** A fixed limit, or `auto` (the default): the size with the most samples/s, measured per model version. */
      maxBatchSize: Schema.optionalKey(
        Schema.Union([PositiveInt, Schema.Literal(AUTO_BATCH_SIZE)]).annotate({
          message: 'Expected an integer ≥ 1 or "auto"'
        })
      ),
      maxDelayMs: Schema.optionalKey(Schema.Number.check(Schema.isGreaterThanOrEqualTo(0)))
    })
  ),
  supervisor: Schema.optionalKey(SupervisorEntry),
  backoff: Schema.optionalKey(BackoffEntry),
  recycle: Schema.optionalKey(RecycleEntry),
  /** With it, the replica count follows load and `replicas` is only the count to start with. */
  autoscale: Schema.optionalKey(AutoscaleEntry),
  /** ONNX Runtime settings, used when the model is an ONNX one: threads per call (default 1; replicas are the parallelism). */
  onnx: Schema.optionalKey(
    Schema.Struct({
      intraOpNumThreads: Schema.optionalKey(Schema.Int.check(Schema.isBetween({ minimum: 1, maximum: 64 })))
    })
  )
})

const NonEmptyString = Schema.String.check(Schema.isNonEmpty())

/** Where and how supervisors and actors connect; file paths are relative to the config file. */
const NatsEntry = Schema.Struct({
  servers: Schema.optionalKey(Schema.Union([Schema.String, Schema.Array(Schema.String).check(Schema.isMinLength(1))])),
  user: Schema.optionalKey(NonEmptyString),
  password: Schema.optionalKey(NonEmptyString),
  token: Schema.optionalKey(NonEmptyString),
  /** A .creds file (user JWT and nkey seed). */
  creds: Schema.optionalKey(NonEmptyString),
  /** A file holding an nkey seed. */
  nkey: Schema.optionalKey(NonEmptyString),
  tls: Schema.optionalKey(
    Schema.Struct({
      ca: Schema.optionalKey(NonEmptyString),
      cert: Schema.optionalKey(NonEmptyString),
      key: Schema.optionalKey(NonEmptyString)
    })
  )
})

export const ConfigFile = Schema.Struct({
  nats: Schema.optionalKey(NatsEntry),
  prefix: Schema.optionalKey(
    Schema.String.check(Schema.makeFilter((s: string) => isSubjectPrefix(s) || "dot-separated subject tokens"))
  ),
  supervisor: Schema.optionalKey(RootSupervisorEntry),
  registry: Schema.optionalKey(
    Schema.Struct({
      /** auto (default): use JetStream when the server has it; off: always serve from path. */
      mode: Schema.optionalKey(Schema.Literals(["auto", "off"])),
      retention: Schema.optionalKey(Schema.Int.check(Schema.isBetween({ minimum: 1, maximum: 64 }))),
      /** Replicas of the registry's streams (default: 3 on a JetStream cluster of ≥ 3 servers, else 1). */
      replicas: Schema.optionalKey(Schema.Int.check(Schema.isBetween({ minimum: 1, maximum: 5 })))
    })
  ),
  /** The supervisor's HTTP port for /metrics, /healthz and /readyz (0: a free port); none without it. */
  metrics: Schema.optionalKey(
    Schema.Struct({ port: Schema.Int.check(Schema.isBetween({ minimum: 0, maximum: 65_535 })) })
  ),
  models: Schema.Array(ModelEntry).check(Schema.isMinLength(1))
})
export type ConfigFile = typeof ConfigFile.Type
export type SupervisorEntry = typeof SupervisorEntry.Type
