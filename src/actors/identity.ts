// Who an actor is, as it tells discovery and metadata callers: model, actor and supervisor ids, backend,
// deployment prefix, and a NATS micro instance id unique to this process; plus the model metadata answer.
import { randomBytes } from "node:crypto"
import type { LoadedModel } from "../model/loader.js"
import type { ModelMetadata } from "../protocol/metadata.js"
import type { ServingModel } from "./servingModel.js"
import type { ActorStats } from "./stats.js"

export interface ActorIdentity {
  readonly model: string
  /** `<slot>@<supervisor>`: kept by a slot's replacement processes. */
  readonly actor: string
  readonly supervisor: string
  readonly backend: string
  readonly prefix: string
  /** The NATS micro instance id: new for every process, 22 letters and digits (like a NUID; never starts with `-`). */
  readonly instance: string
  /** When this process started serving, RFC 3339 in UTC. */
  readonly started: string
}

/** The supervisor part of an actor id (`iris-1@k3j9x2` → `k3j9x2`); empty for an actor run on its own. */
export const supervisorOf = (actorId: string): string => {
  const at = actorId.lastIndexOf("@")
  return at < 0 ? "" : actorId.slice(at + 1)
}

const ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

/** 22 random base-62 characters (~131 bits). */
const instanceId = (): string => {
  let id = ""
  for (const byte of randomBytes(22)) id += ALPHABET[byte % ALPHABET.length]
  return id
}

export const actorIdentity = (fields: {
  readonly model: string
  readonly actor: string
  readonly backend: string
  readonly prefix: string
}): ActorIdentity => ({
  ...fields,
  supervisor: supervisorOf(fields.actor),
  instance: instanceId(),
  started: new Date().toISOString()
})

/** What runs the model served now: ONNX Runtime for an ONNX model, else the process's TF.js backend. */
export const servedBackend = (identity: ActorIdentity, model: LoadedModel): string =>
  model.signature.format === "onnx" ? "onnxruntime" : identity.backend

/** The `describe` answer: the version served now, its signature, who answered and its batch limit. */
export const modelMetadata = (identity: ActorIdentity, serving: ServingModel, stats: ActorStats): ModelMetadata => {
  const { model, version } = serving.current
  return {
    name: identity.model,
    version,
    format: model.signature.format,
    backend: servedBackend(identity, model),
    inputs: model.signature.inputs,
    outputs: model.signature.outputs,
    actor: identity.actor,
    supervisor: identity.supervisor,
    maxBatchSize: stats.batchLimit.maxBatchSize
  }
}
