// Loading an ONNX model (model.onnx) into a LoadedModel on ONNX Runtime: one session per loaded model,
// its signature from the session, a predict from host tensors to host tensors, its weights read from the file.
import * as Effect from "effect/Effect"
import type * as Ort from "onnxruntime-node"
import type { HostTensor, TensorData } from "../../protocol/tensor.js"
import { isDType } from "../../protocol/tensor.js"
import { messageOf } from "../../protocol/values.js"
import type { ModelFiles } from "../artifacts.js"
import { type BackendUnavailable, ModelLoadFailed } from "../errors.js"
import { nonFiniteValues } from "../finite.js"
import type { LoadedModel, ModelWeight, RuntimeOptions } from "../loadedModel.js"
import type { ModelSignature } from "../specs.js"
import { type OnnxWeight, onnxModelFile, readOnnxModel } from "./onnxFile.js"
import { onnxRuntime } from "./onnxRuntime.js"
import { type OnnxValueMetadata, onnxSignature } from "./onnxSignature.js"

/** Threads for one call unless the model's config says otherwise: replicas are the parallelism. */
export const DEFAULT_INTRA_OP_THREADS = 1

/** ONNX Runtime's warnings at load (unused initializers and the like) stay out of the actor's log; errors do not. */
const LOG_ERRORS = 3
/** A failed call is answered as InferenceFailed with the runtime's message: it is not logged a second time. */
const LOG_NOTHING = 4

/** Session options: one call at a time on the caller's thread plus `intraOpNumThreads - 1` pool threads that sleep when idle. */
export const sessionOptions = (options: RuntimeOptions): Ort.InferenceSession.SessionOptions => {
  const threads = options.intraOpNumThreads ?? DEFAULT_INTRA_OP_THREADS
  return {
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    executionMode: "sequential",
    graphOptimizationLevel: "all",
    logSeverityLevel: LOG_ERRORS,
    // a spinning pool thread burns a core while the process waits for requests; replicas share the host
    ...(threads > 1 ? { extra: { session: { intra_op: { allow_spinning: "0" } } } } : {})
  }
}

const hostTensor = (tensor: Ort.Tensor, name: string): HostTensor => {
  const { type } = tensor
  if (type === "string" || !isDType(type)) throw new Error(`output ${name} has dtype ${type}`)
  return { dtype: type, shape: tensor.dims, data: tensor.data as TensorData }
}

/** LoadedModel.predict over a session: feeds in signature order, the wanted outputs back as host tensors. */
const predictor = (
  ort: typeof Ort,
  session: Ort.InferenceSession,
  signature: ModelSignature
): LoadedModel["predict"] => {
  const allOutputs = signature.outputs.map((spec) => spec.name)
  const runOptions: Ort.InferenceSession.RunOptions = { logSeverityLevel: LOG_NOTHING }
  return async (inputs, outputNames) => {
    const feeds: Record<string, Ort.Tensor> = {}
    for (const spec of signature.inputs) {
      const input = inputs[spec.name]
      if (input === undefined) throw new Error(`missing input ${spec.name}`)
      feeds[spec.name] = new ort.Tensor(input.dtype, input.data, input.shape as Array<number>)
    }
    const wanted = outputNames ?? allOutputs
    const results = await session.run(feeds, wanted as Array<string>, runOptions)
    const outputs: Record<string, HostTensor> = {}
    for (const name of wanted) {
      const tensor = results[name]
      if (tensor === undefined) throw new Error(`the model returned no tensor for output ${name}`)
      outputs[name] = hostTensor(tensor, name)
    }
    return outputs
  }
}

/**
 * The weights holding NaN or ±Infinity, their values kept; the others are read once and let go (ONNX
 * Runtime holds its own copy), so a served model costs no second copy of its weights.
 */
const nonFiniteWeights = (weights: ReadonlyArray<OnnxWeight>): ReadonlyArray<ModelWeight> =>
  weights.flatMap((weight) => {
    const values = weight.values()
    return nonFiniteValues(values) === undefined
      ? []
      : [{ name: weight.name, dtype: "float32", values: () => Promise.resolve(values) }]
  })

/**
 * Loads the ONNX model in `files` (model.onnx, checked beforehand) on ONNX Runtime; `where` names it in
 * errors. BackendUnavailable when onnxruntime-node cannot load in this process.
 */
export const loadOnnxFiles = Effect.fnUntraced(function* (
  files: ModelFiles,
  where: string,
  options: RuntimeOptions = {}
): Effect.fn.Return<LoadedModel, ModelLoadFailed | BackendUnavailable> {
  const bytes = files.get(onnxModelFile)
  if (bytes === undefined) return yield* new ModelLoadFailed({ path: where, message: `${where}: no ${onnxModelFile}` })
  const read = readOnnxModel(bytes)
  if (!read.ok) return yield* new ModelLoadFailed({ path: where, message: `${where}: ${read.reason}` })
  const ort = yield* onnxRuntime
  const session = yield* Effect.tryPromise({
    try: () => ort.InferenceSession.create(bytes, sessionOptions(options)),
    catch: (cause) =>
      new ModelLoadFailed({ path: where, message: `ONNX Runtime cannot load ${where}: ${messageOf(cause)}` })
  })
  const signature = yield* Effect.try({
    try: () =>
      onnxSignature(
        session.inputMetadata as ReadonlyArray<OnnxValueMetadata>,
        session.outputMetadata as ReadonlyArray<OnnxValueMetadata>
      ),
    catch: (cause) => {
      void session.release().catch(() => undefined)
      return new ModelLoadFailed({
        path: where,
        message: `the ONNX model ${where} cannot be served: ${messageOf(cause)}`
      })
    }
  })
  const notFinite = nonFiniteWeights(read.model.weights)
  const model: LoadedModel = {
    signature,
    weights: () => notFinite,
    predict: predictor(ort, session, signature),
    dispose: () => {
      void session.release().catch(() => undefined)
    }
  }
  return model
})
