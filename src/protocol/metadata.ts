// A model's metadata as one replica answers it on `<prefix>.describe.<model>` (JSON): its inputs and
// outputs with dtypes and shapes, version, format, backend — what Triton's model metadata API gives.
import * as Schema from "effect/Schema"
import { DType } from "./tensor.js"

const Count = Schema.Int.check(Schema.isGreaterThanOrEqualTo(0))

/** One input or output; `null` in `shape` is a dynamic dimension (the batch, usually). */
export const TensorMetadata = Schema.Struct({
  name: Schema.String,
  dtype: Schema.Literals(Object.values(DType)),
  shape: Schema.Array(Schema.NullOr(Count))
})
export type TensorMetadata = typeof TensorMetadata.Type

export const ModelMetadata = Schema.Struct({
  /** The model's name (its subject token). */
  name: Schema.String,
  /** The version the answering replica serves now. */
  version: Count,
  /** Model format: TF.js `layers` or `graph`, or `onnx`. */
  format: Schema.Literals(["layers", "graph", "onnx"]),
  /** What the replica runs it on: a TF.js backend (`tensorflow`, `wasm`, `cpu`), or `onnxruntime`. */
  backend: Schema.String,
  inputs: Schema.Array(TensorMetadata),
  outputs: Schema.Array(TensorMetadata),
  /** The replica that answered, and its supervisor. */
  actor: Schema.String,
  supervisor: Schema.String,
  /** Rows per model call at most on the answering replica (measured per version unless the config fixes it). */
  maxBatchSize: Schema.optionalKey(Count)
})
export type ModelMetadata = typeof ModelMetadata.Type
