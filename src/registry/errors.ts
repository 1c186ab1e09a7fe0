// The typed errors of model updates and the registry, shared by actors, supervisors and clients.
// Each names what was expected and what was found.
import * as Schema from "effect/Schema"
import { BadInput } from "../protocol/errors.js"
import { isRecord } from "../protocol/values.js"
import { CanaryRunning } from "./canaryErrors.js"

/**
 * The registry cannot be reached: the NATS server has no JetStream (`absent`: serving works, updates do
 * not), its cluster is electing leaders (`electing`: try again), or lost its quorum (`quorumLost`).
 */
export class RegistryUnavailable extends Schema.TaggedError<RegistryUnavailable>()("RegistryUnavailable", {
  message: Schema.String,
  reason: Schema.optionalKey(Schema.Literals(["absent", "electing", "quorumLost"]))
}) {}

/** Another update moved the model's version first (compare-and-swap lost). */
export class VersionConflict extends Schema.TaggedError<VersionConflict>()("VersionConflict", {
  message: Schema.String,
  model: Schema.String,
  expected: Schema.Number,
  actual: Schema.Number
}) {}

/** A replica could not load the new version; it keeps serving the old one. */
export class UpdateFailed extends Schema.TaggedError<UpdateFailed>()("UpdateFailed", {
  message: Schema.String,
  model: Schema.String,
  version: Schema.Number,
  replica: Schema.String,
  cause: Schema.String
}) {}

/** The new version's inputs or outputs differ from the serving one's (use `force` to accept). */
export class IncompatibleSignature extends Schema.TaggedError<IncompatibleSignature>()("IncompatibleSignature", {
  message: Schema.String,
  model: Schema.String
}) {}

/**
 * Artifacts that may not be loaded: a bundle whose sha256 is not the recorded digest, or that does
 * not decode; a weight path leaving the model; a weight file whose size is not what the manifest
 * declares; an unknown dtype; more bytes than the limit. `expected` and `actual` say what was
 * expected and what arrived (`524 bytes` / `31457280 bytes`).
 */
export class ArtifactCorrupt extends Schema.TaggedError<ArtifactCorrupt>()("ArtifactCorrupt", {
  message: Schema.String,
  model: Schema.String,
  expected: Schema.String,
  actual: Schema.String
}) {}

/** The ArtifactCorrupt refusing `what` (`iris v3`, a folder) of `model` for a checked problem. */
export const artifactCorrupt = (
  model: string,
  what: string,
  problem: { readonly message: string; readonly expected: string; readonly actual: string }
) =>
  new ArtifactCorrupt({
    message: `refusing the artifacts of ${what}: ${problem.message}`,
    model,
    expected: problem.expected,
    actual: problem.actual
  })

/** No such model or version in the registry. */
export class VersionNotFound extends Schema.TaggedError<VersionNotFound>()("VersionNotFound", {
  message: Schema.String,
  model: Schema.String
}) {}

/** A version whose weights or warm-up outputs hold NaN or ±Infinity: it never goes live. */
export class ModelNotFinite extends Schema.TaggedError<ModelNotFinite>()("ModelNotFinite", {
  message: Schema.String,
  model: Schema.String
}) {}

/** 500: training failed for a reason the caller's data does not explain (the replica keeps serving). */
export class FitFailed extends Schema.TaggedError<FitFailed>()("FitFailed", {
  message: Schema.String
}) {}

/** 501: the operation does not apply to this model (training an ONNX model: train it where it was made). */
export class NotSupported extends Schema.TaggedError<NotSupported>()("NotSupported", {
  message: Schema.String,
  model: Schema.String
}) {}

/** Errors a `fit` reply can carry, encoded like the infer errors: `{"error": {"_tag", "message", …}}`. */
export const FitError = Schema.Union([
  BadInput,
  RegistryUnavailable,
  VersionConflict,
  IncompatibleSignature,
  ArtifactCorrupt,
  VersionNotFound,
  ModelNotFinite,
  NotSupported,
  FitFailed,
  CanaryRunning
])
export type FitError = typeof FitError.Type

const encodeFitError = Schema.encodeSync(FitError)
const decodeFitError = Schema.decodeUnknownOption(FitError)

export const fitErrorBody = (error: FitError) => ({ error: encodeFitError(error) })

export const fitErrorFromBody = (body: unknown): FitError | undefined => {
  if (!isRecord(body) || !("error" in body)) return undefined
  const decoded = decodeFitError(body.error)
  return decoded._tag === "Some" ? decoded.value : undefined
}
