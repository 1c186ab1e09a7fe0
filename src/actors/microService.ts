// The actor as one instance of a NATS micro service (ADR-32): its PING, INFO and STATS answers, built
// from its identity, the version it serves now and its own counters (pure, read only when asked).
import { errorCodes } from "../protocol/errors.js"
import {
  type EndpointInfo,
  type InfoResponse,
  MicroType,
  type PingResponse,
  type StatsResponse
} from "../protocol/micro.js"
import { subjects } from "../protocol/subjects.js"
import { type ActorIdentity, servedBackend } from "./identity.js"
import type { ServingModel } from "./servingModel.js"
import type { ActorStats } from "./stats.js"

/** The one endpoint each actor lists: its model's infer subject. */
export const INFER_ENDPOINT = "infer"

/** ADR-32 wants a semantic version: model version N is service version `N.0.0`. */
export const serviceVersion = (modelVersion: number): string => `${modelVersion}.0.0`

const identityOf = (identity: ActorIdentity, serving: ServingModel) => {
  const { version, model } = serving.current
  return {
    name: subjects(identity.prefix).service(identity.model),
    id: identity.instance,
    version: serviceVersion(version),
    metadata: {
      model: identity.model,
      model_version: String(version),
      model_format: model.signature.format,
      backend: servedBackend(identity, model),
      actor: identity.actor,
      supervisor: identity.supervisor,
      prefix: identity.prefix
    }
  }
}

const inferEndpoint = (identity: ActorIdentity) => {
  const s = subjects(identity.prefix)
  return { name: INFER_ENDPOINT, subject: s.infer(identity.model), queue_group: s.inferQueue(identity.model) }
}

export const pingResponse = (identity: ActorIdentity, serving: ServingModel): PingResponse => ({
  type: MicroType.ping,
  ...identityOf(identity, serving)
})

/** INFO: the identity, and on the infer endpoint the signature and the batch limit (rows per model call, and its source). */
export const infoResponse = (identity: ActorIdentity, serving: ServingModel, stats: ActorStats): InfoResponse => {
  const { signature } = serving.current.model
  const endpoint: EndpointInfo = {
    ...inferEndpoint(identity),
    metadata: {
      inputs: JSON.stringify(signature.inputs),
      outputs: JSON.stringify(signature.outputs),
      max_batch_size: String(stats.batchLimit.maxBatchSize),
      batch_limit: stats.batchLimit.source
    }
  }
  return {
    type: MicroType.info,
    ...identityOf(identity, serving),
    description: `modelbus actor ${identity.actor} serving model ${identity.model}`,
    endpoints: [endpoint]
  }
}

const NANOS_PER_MS = 1_000_000

export const statsResponse = (identity: ActorIdentity, serving: ServingModel, stats: ActorStats): StatsResponse => {
  const requests = stats.served + stats.errors
  const processing = Math.round(stats.processingMs * NANOS_PER_MS)
  const last = stats.lastError
  return {
    type: MicroType.stats,
    ...identityOf(identity, serving),
    started: identity.started,
    endpoints: [
      {
        ...inferEndpoint(identity),
        num_requests: requests,
        num_errors: stats.errors,
        last_error: last === undefined ? "" : `${errorCodes[last._tag]} ${last._tag}: ${last.message}`,
        processing_time: processing,
        average_processing_time: requests === 0 ? 0 : Math.round(processing / requests)
      }
    ]
  }
}
