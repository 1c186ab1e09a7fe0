// The public surface of the modelbus package: the Effect client, the Promise façade, the typed
// errors and the wire types a caller needs.
export { clientMetrics, ModelClient, type ClientOptions, type ClientStats, type InferOptions, type StatusOptions } from "./ModelClient.js"
export { defaultRetryPolicy, isRetryable, type RetryPolicy, type RetryableError } from "./retry.js"
export { connect, type Client } from "./promise.js"
export { ControlRefused, NotFound, type ControlOptions } from "./control.js"
export {
  BadInput,
  BadReply,
  ConnectionError,
  DeadlineExceeded,
  InferenceFailed,
  NoResponders,
  Overloaded,
  PayloadTooLarge,
  Timeout,
  type InferError,
  type ServiceError
} from "../protocol/errors.js"
export type { InferInputs, NestedArray, TensorInput } from "../protocol/codec.js"
export type { ActorStatus, ControlReply, InferReply, LifecycleEvent, SupervisorNode, SupervisorStatus } from "../protocol/messages.js"
export type { DType, HostTensor } from "../protocol/tensor.js"
export { type FitData, type UpdateOptions, type UpdateResult, type UpdateSource } from "./update.js"
export { ArtifactCorrupt, IncompatibleSignature, RegistryUnavailable, UpdateFailed, VersionConflict, VersionNotFound } from "../registry/errors.js"
export type { ModelVersion } from "../registry/versions.js"
