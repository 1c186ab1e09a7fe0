// The NATS micro (ADR-32, `io.nats.micro.v1`) answers an actor gives on `$SRV.PING|INFO|STATS`, as
// Schemas: the JSON that `nats micro ls|info|stats` and nats.js's service client read.
import * as Schema from "effect/Schema"

/** The `type` field of each answer. */
export const MicroType = {
  ping: "io.nats.micro.v1.ping_response",
  info: "io.nats.micro.v1.info_response",
  stats: "io.nats.micro.v1.stats_response"
} as const
export type MicroType = (typeof MicroType)[keyof typeof MicroType]

const Token = Schema.String.check(Schema.isPattern(/^[A-Za-z0-9_-]+$/))
/** ADR-32 requires a semantic version (`major.minor.patch`, optional pre-release and build). */
const SemVer = Schema.String.check(
  Schema.isPattern(/^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-[0-9A-Za-z.-]+)?(?:\+[0-9A-Za-z.-]+)?$/)
)
const Metadata = Schema.NullOr(Schema.Record(Schema.String, Schema.String))
/** Nanoseconds or counts: integers. */
const Int = Schema.Int

const identity = { name: Token, id: Token, version: SemVer, metadata: Metadata }

export const PingResponse = Schema.Struct({ type: Schema.Literal(MicroType.ping), ...identity })
export type PingResponse = typeof PingResponse.Type

export const EndpointInfo = Schema.Struct({
  name: Token,
  subject: Schema.String,
  queue_group: Schema.optionalKey(Schema.String),
  metadata: Metadata
})
export type EndpointInfo = typeof EndpointInfo.Type

export const InfoResponse = Schema.Struct({
  type: Schema.Literal(MicroType.info),
  ...identity,
  description: Schema.String,
  endpoints: Schema.Array(EndpointInfo)
})
export type InfoResponse = typeof InfoResponse.Type

export const EndpointStats = Schema.Struct({
  name: Token,
  subject: Schema.String,
  queue_group: Schema.optionalKey(Schema.String),
  num_requests: Int,
  num_errors: Int,
  /** Empty when no request failed yet. */
  last_error: Schema.String,
  /** Nanoseconds, summed over answered requests. */
  processing_time: Int,
  /** Nanoseconds: processing_time / num_requests. */
  average_processing_time: Int
})
export type EndpointStats = typeof EndpointStats.Type

export const StatsResponse = Schema.Struct({
  type: Schema.Literal(MicroType.stats),
  ...identity,
  /** RFC 3339, UTC. */
  started: Schema.String,
  endpoints: Schema.Array(EndpointStats)
})
export type StatsResponse = typeof StatsResponse.Type
