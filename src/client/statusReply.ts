// A supervisor's status reply as the client reads it: decoded with a Schema (what arrived is checked
// field by field, never cast), to the SupervisorStatus the protocol declares.
import * as Schema from "effect/Schema"
import { BatchLimitSource } from "../protocol/ipc.js"
import { ActorState, type SupervisorStatus } from "../protocol/messages.js"
import { type Decoded, decoderOf } from "../protocol/schemaIssues.js"

const count = Schema.Number

const BatchLimit = Schema.Struct({
  maxBatchSize: count,
  source: Schema.Literals(Object.values(BatchLimitSource)),
  version: Schema.optionalKey(count)
})

const ActorStatusSchema = Schema.Struct({
  id: Schema.String,
  model: Schema.String,
  pid: Schema.NullOr(count),
  state: Schema.Literals(Object.values(ActorState)),
  version: count,
  loads: count,
  restarts: count,
  served: count,
  errors: count,
  inflight: count,
  calls: Schema.optionalKey(count),
  tensors: count,
  rssBytes: count,
  batching: Schema.optionalKey(BatchLimit),
  startedAt: Schema.optionalKey(count),
  recycled: Schema.optionalKey(count),
  lastExit: Schema.optionalKey(Schema.String),
  exits: Schema.optionalKey(Schema.Array(Schema.Struct({ at: count, reason: Schema.String }))),
  supervisor: Schema.optionalKey(Schema.String)
})

const AutoscaleSchema = Schema.Struct({
  replicas: count,
  target: count,
  reason: Schema.String,
  observed: count,
  min: count,
  max: count,
  wantedMore: Schema.optionalKey(count),
  cluster: Schema.optionalKey(Schema.Struct({ target: count, supervisors: count, rank: count }))
})

const SupervisorNodeSchema = Schema.Struct({
  name: Schema.String,
  strategy: Schema.String,
  intensity: count,
  periodMs: count,
  state: Schema.Literals(["running", "restarting", "failed"]),
  recentRestarts: count,
  escalations: count,
  autoscale: Schema.optionalKey(AutoscaleSchema)
})

export const SupervisorStatusSchema = Schema.Struct({
  supervisor: Schema.Struct({
    id: Schema.String,
    pid: count,
    host: Schema.String,
    startedAt: Schema.optionalKey(count)
  }),
  actors: Schema.Array(ActorStatusSchema),
  tree: Schema.optionalKey(Schema.Struct({ root: SupervisorNodeSchema, models: Schema.Array(SupervisorNodeSchema) }))
})

/** The Schema decodes to exactly the declared shape: a change to one that the other lacks fails to compile. */
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false
const declared: Same<typeof SupervisorStatusSchema.Type, SupervisorStatus> = true
void declared

/** A status reply's body (parsed JSON) as a SupervisorStatus, or the fields that are wrong. */
export const decodeSupervisorStatus: (body: unknown) => Decoded<SupervisorStatus> = decoderOf(
  SupervisorStatusSchema,
  "status"
)
