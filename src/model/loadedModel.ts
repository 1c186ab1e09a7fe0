// What every runtime's loaded model offers the actor, whichever runtime built it (TF.js or ONNX
// Runtime): its signature, its weights for the finiteness check, a host-in host-out predict.
import type { HostTensor } from "../protocol/tensor.js"
import type { ModelSignature } from "./specs.js"

/** One weight of a loaded model, read on demand (off the serving path). */
export interface ModelWeight {
  /** Its name in the model's files (a weights manifest entry, an ONNX initializer). */
  readonly name: string
  readonly dtype: string
  /** Its values, copied into host memory. */
  readonly values: () => Promise<ArrayLike<number>>
}

export interface LoadedModel {
  readonly signature: ModelSignature
  /** The model's weights (to check them before the model goes live). */
  readonly weights: () => ReadonlyArray<ModelWeight>
  /**
   * Runs the model. Inputs keyed by input name (already validated by the caller against the
   * signature); returns host tensors keyed by output name (all outputs, or only
   * `outputNames` when given, in that order). Nothing the runtime allocated for the call is
   * left behind once it resolves. Rejects with the runtime's Error if it throws.
   */
  predict(
    inputs: Readonly<Record<string, HostTensor>>,
    outputNames?: ReadonlyArray<string>
  ): Promise<Record<string, HostTensor>>
  dispose(): void
}

/** How a model is run, where the runtime has a choice (ONNX Runtime's threads; TF.js ignores it). */
export interface RuntimeOptions {
  /** Threads one ONNX Runtime call may use (default 1: replicas are the parallelism). */
  readonly intraOpNumThreads?: number | undefined
}
