// A model's signature — named, typed, shaped inputs and outputs — and how it is read from a loaded
// Layers or Graph model and its model.json. Pure functions; failures are thrown Errors.
import type { GraphModel } from "@tensorflow/tfjs-converter"
import type { LayersModel } from "@tensorflow/tfjs-layers"
import { allocate, type DType, elementCount, type HostTensor, isDType } from "../protocol/tensor.js"
import { isRecord } from "../protocol/values.js"
import type { ModelFormat } from "./format.js"

/** One input or output. `null` in `shape` is a dynamic dimension (e.g. the batch). */
export interface TensorSpec {
  readonly name: string
  readonly dtype: DType
  readonly shape: ReadonlyArray<number | null>
  /**
   * Inputs only, when the model names dynamic dimensions that two input dimensions share (ONNX's
   * symbolic dimensions): the name of each, null elsewhere. A request must give them one size.
   */
  readonly symbols?: ReadonlyArray<string | null>
}

/** Which kind of model a signature was read from: a TF.js Layers or Graph model, or an ONNX model. */
export type SignatureFormat = ModelFormat | "onnx"

export interface ModelSignature {
  readonly format: SignatureFormat
  readonly inputs: ReadonlyArray<TensorSpec>
  readonly outputs: ReadonlyArray<TensorSpec>
}

/** A Graph output whose dtype or shape the graph itself does not state. */
export interface PartialTensorSpec {
  readonly name: string
  readonly dtype: DType | undefined
  readonly shape: ReadonlyArray<number | null> | undefined
}

/** Dimensions with every unknown size (-1, null, undefined) as null. */
export const dynamicDims = (shape: ReadonlyArray<number | null | undefined>): Array<number | null> =>
  shape.map((d) => (typeof d === "number" && d >= 0 ? d : null))

/** Names made unique: a repeated name `n` becomes `n:1`, `n:2`, … in order of appearance. */
export const uniqueNames = (names: ReadonlyArray<string>): Array<string> => {
  const seen = new Map<string, number>()
  return names.map((name) => {
    const count = seen.get(name) ?? 0
    seen.set(name, count + 1)
    return count === 0 ? name : `${name}:${count}`
  })
}

/** A TF.js dtype modelbus serves: TensorFlow.js has no int64 (its converter reads one as int32). */
const servedDType = (dtype: string | undefined, what: string): DType => {
  if (isDType(dtype) && dtype !== "int64") return dtype
  throw new Error(`${what} has dtype ${dtype ?? "unknown"}; modelbus serves float32, int32 and bool TF.js tensors`)
}

/**
 * Layers models: each input is named after its InputLayer and each output after the layer
 * that produces it — the names in model.json's `input_layers` / `output_layers`.
 */
export const layersSignature = (model: LayersModel): ModelSignature => {
  const inputNames = uniqueNames(model.inputNames)
  const outputNames = uniqueNames(model.outputNames)
  return {
    format: "layers",
    inputs: model.inputs.map((input, i) => {
      const name = inputNames[i] ?? input.name
      return { name, dtype: servedDType(input.dtype, `input ${name}`), shape: dynamicDims(input.shape) }
    }),
    outputs: model.outputs.map((output, i) => {
      const name = outputNames[i] ?? output.name
      return { name, dtype: servedDType(output.dtype, `output ${name}`), shape: dynamicDims(output.shape) }
    })
  }
}

const tfDTypes: Record<string, DType> = { DT_FLOAT: "float32", DT_INT32: "int32", DT_BOOL: "bool" }

interface SignatureEntry {
  readonly name?: string
  readonly dtype?: string
  readonly tensorShape?: {
    readonly dim?: ReadonlyArray<{ readonly size?: string | number }>
    readonly unknownRank?: boolean
  }
}

const nodeOf = (tensorName: string): string => tensorName.replace(/:\d+$/, "")

/** The model.json `signature` entry for the tensor a Graph input/output name refers to. */
const signatureEntry = (entries: unknown, key: string, nodeName: string): SignatureEntry | undefined => {
  if (!isRecord(entries)) return undefined
  const table = entries as Record<string, SignatureEntry>
  return table[key] ?? Object.values(table).find((entry) => entry.name !== undefined && nodeOf(entry.name) === nodeName)
}

const signatureShape = (entry: SignatureEntry | undefined): Array<number | null> | undefined => {
  const shape = entry?.tensorShape
  if (shape === undefined || shape.unknownRank === true) return undefined
  return dynamicDims((shape.dim ?? []).map((d) => Number(d.size ?? -1)))
}

const signatureDType = (entry: SignatureEntry | undefined): string | undefined =>
  entry?.dtype === undefined ? undefined : (tfDTypes[entry.dtype] ?? entry.dtype)

/**
 * A Graph input's spec: its Placeholder's dtype/shape attributes, else the signature's.
 * Outputs use the signature only: an op's `T` attribute is its input type, not always its
 * output type (Where, ArgMax, Cast), so it is never trusted for outputs.
 */
const graphSpec = (
  name: string,
  attrs: { readonly shape?: ReadonlyArray<number>; readonly dtype?: string } | undefined,
  entry: SignatureEntry | undefined
): PartialTensorSpec => {
  const dtype = attrs?.dtype ?? signatureDType(entry)
  return {
    name,
    dtype: dtype === undefined ? undefined : servedDType(dtype, name),
    shape: attrs?.shape !== undefined ? dynamicDims(attrs.shape) : signatureShape(entry)
  }
}

/**
 * Graph models: names are what GraphModel.execute accepts — the signature key when
 * model.json has a `signature`, else the node name (`node:k` for a node's k-th output).
 * Input dtypes and shapes come from the Placeholders, else the signature; output ones from
 * the signature, else they stay partial (for a probe run to fill in). Inputs may not.
 */
export const graphSpecs = (
  model: GraphModel,
  signature: unknown
): { inputs: Array<TensorSpec>; outputs: Array<PartialTensorSpec> } => {
  const table = isRecord(signature) ? signature : {}
  const inputs = model.inputs.map((info, i) => {
    const name = model.inputNodes[i] ?? info.name
    const spec = graphSpec(name, info, signatureEntry(table.inputs, name, info.name))
    if (spec.dtype === undefined || spec.shape === undefined) {
      throw new Error(`input ${name} has no ${spec.dtype === undefined ? "dtype" : "static rank"} in the graph`)
    }
    return { name, dtype: spec.dtype, shape: spec.shape }
  })
  const outputs = model.outputs.map((info, i) => {
    const name = model.outputNodes[i] ?? info.name
    return graphSpec(name, undefined, signatureEntry(table.outputs, name, info.name))
  })
  return { inputs, outputs }
}

/** Zero tensors matching the inputs, every dynamic dimension set to 1: a probe batch. */
export const probeInputs = (inputs: ReadonlyArray<TensorSpec>): Record<string, HostTensor> => {
  const probe: Record<string, HostTensor> = {}
  for (const input of inputs) {
    const shape = input.shape.map((d) => d ?? 1)
    const data = allocate(input.dtype, elementCount(shape))
    probe[input.name] = { dtype: input.dtype, shape, data }
  }
  return probe
}

/**
 * Completes a partial output spec from what a probe run returned. The leading dimension
 * is taken as dynamic when every input's leading dimension is (a batch dimension).
 */
export const completeSpec = (partial: PartialTensorSpec, probed: HostTensor, batchIsDynamic: boolean): TensorSpec => ({
  name: partial.name,
  dtype: partial.dtype ?? probed.dtype,
  shape: partial.shape ?? probed.shape.map((d, axis) => (axis === 0 && batchIsDynamic ? null : d))
})

/** True when the inputs all have a dynamic leading (batch) dimension. */
export const hasDynamicBatch = (inputs: ReadonlyArray<TensorSpec>): boolean =>
  inputs.length > 0 && inputs.every((input) => input.shape.length > 0 && input.shape[0] === null)
