// What the registry records for each model version, and the pure rules over versions:
// signature compatibility between the serving version and a new one, and which versions to keep.
import * as Schema from "effect/Schema"
import type { ModelSignature, TensorSpec } from "../model/specs.js"
import { decoderOf } from "../protocol/schemaIssues.js"
import { DType } from "../protocol/tensor.js"

const Count = Schema.Int.check(Schema.isGreaterThanOrEqualTo(0))
const Text = Schema.String.check(Schema.isMaxLength(4096))

const TensorSpecSchema = Schema.Struct({
  name: Text,
  dtype: Schema.Literals(Object.values(DType)),
  shape: Schema.Array(Schema.NullOr(Count)).check(Schema.isMaxLength(16))
})

const Format = Schema.Literals(["layers", "graph", "onnx"])

const ModelSignatureSchema = Schema.Struct({
  format: Format,
  inputs: Schema.Array(TensorSpecSchema).check(Schema.isMaxLength(1024)),
  outputs: Schema.Array(TensorSpecSchema).check(Schema.isMaxLength(1024))
})

/** What the registry records for one version (a KV entry's JSON), decoded with this Schema when read. */
export const ModelVersion = Schema.Struct({
  version: Schema.Int.check(Schema.isGreaterThanOrEqualTo(1)),
  /** `sha256:<hex>` of the artifact bundle. */
  digest: Schema.String.check(Schema.isPattern(/^sha256:[0-9a-f]{64}$/)),
  format: Format,
  signature: ModelSignatureSchema,
  createdAt: Text,
  /** Where it came from: `path:<dir>`, `fit:<actor>`, `rollback:<version>`. */
  source: Text,
  /** Bundle size in bytes. */
  size: Count,
  /** Accepted even though its signature differs from the version before it. */
  force: Schema.optionalKey(Schema.Boolean)
})
export type ModelVersion = typeof ModelVersion.Type

/** A KV entry's parsed JSON as a ModelVersion, or a message naming each wrong field. */
export const decodeModelVersion = decoderOf(ModelVersion, "entry")

const specText = (s: TensorSpec) => `${s.name} ${s.dtype}[${s.shape.map((d) => (d === null ? "?" : d)).join(",")}]`

const sameSpecs = (a: ReadonlyArray<TensorSpec>, b: ReadonlyArray<TensorSpec>, withShapes: boolean) =>
  a.length === b.length &&
  a.every((x) => {
    const y = b.find((s) => s.name === x.name)
    return (
      y !== undefined &&
      y.dtype === x.dtype &&
      (!withShapes || (y.shape.length === x.shape.length && y.shape.every((d, i) => d === x.shape[i])))
    )
  })

/** Why `next` cannot replace `serving` for the same callers, or undefined when it can. */
export const signatureMismatch = (serving: ModelSignature, next: ModelSignature): string | undefined => {
  if (!sameSpecs(serving.inputs, next.inputs, true)) {
    return `inputs differ: serving ${serving.inputs.map(specText).join(", ")}; new ${next.inputs.map(specText).join(", ")}`
  }
  if (!sameSpecs(serving.outputs, next.outputs, false)) {
    return `outputs differ: serving ${serving.outputs.map(specText).join(", ")}; new ${next.outputs.map(specText).join(", ")}`
  }
  return undefined
}

/**
 * Whether `kept` (a model's history as read, oldest first) is all the registry keeps of it, so that the
 * artifacts none of it refers to can be deleted: versions rising by exactly 1 up to the current one (every
 * publish, rollback and promotion takes the next number), and either as many as the bucket keeps or every
 * version since the first. A read that missed an entry fails this and nothing is deleted: a history walked
 * by direct gets over replicas still catching up after a node loss, or through an election, can skip some.
 */
export const wholeHistory = (kept: ReadonlyArray<Pick<ModelVersion, "version">>, current: number, keeps: number) =>
  kept.length > 0 &&
  kept.at(-1)!.version === current &&
  kept.every((v, i) => i === 0 || v.version === kept[i - 1]!.version + 1) &&
  (kept.length >= keeps || kept[0]!.version === 1)

/** Digests of artifacts no kept version refers to (safe to delete once `wholeHistory` holds). */
export const unreferencedDigests = (
  kept: ReadonlyArray<ModelVersion>,
  stored: ReadonlyArray<string>
): ReadonlyArray<string> => {
  const live = new Set(kept.map((v) => v.digest))
  return stored.filter((d) => !live.has(d))
}
