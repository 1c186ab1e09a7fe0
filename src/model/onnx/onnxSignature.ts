// An ONNX model's signature from its session's metadata: names, dtypes, shapes (symbolic dimensions as
// null, their names kept where two dimensions share one); anything but a served tensor is refused.
import { type DType, isDType } from "../../protocol/tensor.js"
import type { ModelSignature, TensorSpec } from "../specs.js"

/** An input or output as ONNX Runtime describes it (onnxruntime-common's ValueMetadata). */
export type OnnxValueMetadata =
  | { readonly name: string; readonly isTensor: false }
  | {
      readonly name: string
      readonly isTensor: true
      readonly type: string
      /** Sizes, or the symbolic name of a dynamic dimension ("" when it has none). */
      readonly shape: ReadonlyArray<number | string>
    }

const served = "float32, int32, int64 and bool"

const dtypeOf = (value: OnnxValueMetadata & { readonly isTensor: true }, role: string): DType => {
  if (value.type !== "string" && isDType(value.type)) return value.type
  throw new Error(`${role} ${JSON.stringify(value.name)} has dtype ${value.type}; modelbus serves ${served} tensors`)
}

const specOf = (value: OnnxValueMetadata, role: "input" | "output"): TensorSpec & { symbols: Array<string | null> } => {
  if (!value.isTensor) {
    throw new Error(
      `${role} ${JSON.stringify(value.name)} is a sequence or map, not a tensor; modelbus serves tensors ` +
        "(a scikit-learn classifier exported with skl2onnx needs options={'zipmap': False})"
    )
  }
  return {
    name: value.name,
    dtype: dtypeOf(value, role),
    shape: value.shape.map((d) => (typeof d === "number" && d >= 0 ? d : null)),
    symbols: value.shape.map((d) => (typeof d === "string" && d !== "" ? d : null))
  }
}

/**
 * Keeps a spec's symbolic dimension names only where an input shares them with another input
 * dimension (those are the ones a request can contradict); drops `symbols` when none is shared.
 */
const sharedSymbols = (specs: ReadonlyArray<TensorSpec & { symbols: Array<string | null> }>): Array<TensorSpec> => {
  const uses = new Map<string, number>()
  for (const spec of specs) for (const s of spec.symbols) if (s !== null) uses.set(s, (uses.get(s) ?? 0) + 1)
  return specs.map(({ symbols, ...spec }) => {
    const kept = symbols.map((s) => (s !== null && (uses.get(s) ?? 0) > 1 ? s : null))
    return kept.some((s) => s !== null) ? { ...spec, symbols: kept } : spec
  })
}

/** The signature of an ONNX model from its session's input and output metadata. Throws an Error naming what cannot be served. */
export const onnxSignature = (
  inputs: ReadonlyArray<OnnxValueMetadata>,
  outputs: ReadonlyArray<OnnxValueMetadata>
): ModelSignature => {
  if (inputs.length === 0 || outputs.length === 0)
    throw new Error(`the model has no ${inputs.length === 0 ? "inputs" : "outputs"}`)
  return {
    format: "onnx",
    inputs: sharedSymbols(inputs.map((value) => specOf(value, "input"))),
    outputs: outputs.map((value) => {
      const { symbols: _, ...spec } = specOf(value, "output")
      return spec
    })
  }
}
