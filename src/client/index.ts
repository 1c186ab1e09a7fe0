// The public surface of the modelbus package: the Effect client, the Promise façade, the typed
// errors and the wire types a caller needs.

export type { NatsAuth } from "../protocol/auth.js"
export type { InferInputs, NestedArray, TensorInput } from "../protocol/codec.js"
export {
  BadInput,
  BadReply,
  ConnectionError,
  DeadlineExceeded,
  type InferError,
  InferenceFailed,
  NoResponders,
  NotFound,
  Overloaded,
  PayloadTooLarge,
  PermissionDenied,
  type ServiceError,
  Timeout
} from "../protocol/errors.js"
export type { FitProgress } from "../protocol/fit.js"
export type {
  ActorStatus,
  ControlReply,
  InferReply,
  LifecycleEvent,
  SupervisorNode,
  SupervisorStatus
} from "../protocol/messages.js"
export type { ModelMetadata, TensorMetadata } from "../protocol/metadata.js"
export type { DType, HostTensor } from "../protocol/tensor.js"
export { CanaryRunning, NoCanary } from "../registry/canaryErrors.js"
export type { CanaryGuard, CanaryPhase, CanaryState } from "../registry/canaryState.js"
export {
  ArtifactCorrupt,
  FitFailed,
  IncompatibleSignature,
  ModelNotFinite,
  NotSupported,
  RegistryUnavailable,
  UpdateFailed,
  VersionConflict,
  VersionNotFound
} from "../registry/errors.js"
export type { ModelVersion } from "../registry/versions.js"
export type {
  Canaries,
  CanaryOptions,
  CanaryPromoteError,
  CanaryReadError,
  CanaryRollout,
  CanarySource,
  CanaryStartError,
  GuardOptions,
  PromoteResult
} from "./canary.js"
export type { CanaryReport, ShadowReport, VersionReport } from "./canaryReport.js"
export type { DescribeError, DescribeOptions } from "./describe.js"
export type { AttemptTimeoutPolicy, HedgePolicy } from "./latency.js"
export {
  type ClientOptions,
  type ClientStats,
  clientMetrics,
  type InferOptions,
  ModelClient,
  type StatusOptions
} from "./ModelClient.js"
export { type ControlOptions, ControlRefused } from "./operations.js"
export { type Client, connect } from "./promise.js"
export { defaultRetryPolicy, isRetryable, type RetryableError, type RetryPolicy } from "./retry.js"
export type {
  FitData,
  PushError,
  RegistryReadError,
  UpdateError,
  UpdateOptions,
  UpdateResult,
  UpdateSource,
  Updates
} from "./update.js"
