// Pure checks of a decoded request against a model's signature: input names, dtypes, ranks and
// fixed dimensions, integral values for int inputs, batch and named-dimension agreement; a mismatch is a BadInput.
import { BadInput } from "../protocol/errors.js"
import type { InferRequest, InputValue } from "../protocol/messages.js"
import { fromNumbers, type HostTensor, holdsValue, valuesRule } from "../protocol/tensor.js"
import type { ModelSignature, TensorSpec } from "./specs.js"

export type { ModelSignature, TensorSpec } from "./specs.js"

const formatShape = (shape: ReadonlyArray<number | null>): string =>
  `[${shape.map((d) => (d === null ? "?" : String(d))).join(", ")}]`

/** A name as quoted in a message: at most 64 characters (a caller's key may be any length). */
const quoted = (name: string): string => JSON.stringify(name.length > 64 ? `${name.slice(0, 64)}…` : name)

/** Names as listed in a message: the first 5, then how many more, so a reply never grows with the request. */
const nameList = (names: ReadonlyArray<string>): string =>
  names.length > 5
    ? `${names.slice(0, 5).map(quoted).join(", ")} and ${names.length - 5} more`
    : names.map(quoted).join(", ")

const badInput = (spec: TensorSpec, message: string) =>
  new BadInput({ message: `input "${spec.name}": ${message}`, input: spec.name })

const inputNames = (signature: ModelSignature): Array<string> => signature.inputs.map((spec) => spec.name)

/** True when `shape` fits `spec` (same rank; every static dimension equal). */
export const shapeFits = (spec: ReadonlyArray<number | null>, shape: ReadonlyArray<number>): boolean =>
  spec.length === shape.length && spec.every((d, i) => d === null || d === shape[i])

/** The input as a host tensor of the spec's dtype and shape, or why it does not fit. */
export const checkInput = (spec: TensorSpec, value: InputValue): HostTensor | BadInput => {
  if (value.kind === "tensor" && value.tensor.dtype !== spec.dtype) {
    return badInput(spec, `expected dtype ${spec.dtype}, received ${value.tensor.dtype}`)
  }
  const shape = value.kind === "tensor" ? value.tensor.shape : value.shape
  if (!shapeFits(spec.shape, shape)) {
    return badInput(spec, `expected shape ${formatShape(spec.shape)}, received ${formatShape(shape)}`)
  }
  if (value.kind === "tensor") return value.tensor
  if (spec.dtype !== "float32") {
    const at = value.values.findIndex((v) => !holdsValue(spec.dtype, v))
    if (at >= 0)
      return badInput(spec, `expected ${valuesRule(spec.dtype)}, received ${value.values[at]} at flat index ${at}`)
  }
  return { dtype: spec.dtype, shape, data: fromNumbers(spec.dtype, value.values) }
}

/**
 * BadInput when two input dimensions the model names alike (ONNX symbolic dimensions shared by
 * inputs) are given different sizes; undefined when they agree or the model names none.
 */
const checkSymbols = (signature: ModelSignature, checked: Record<string, HostTensor>): BadInput | undefined => {
  let seen: Map<string, { readonly size: number; readonly input: string; readonly axis: number }> | undefined
  for (const spec of signature.inputs) {
    const symbols = spec.symbols
    if (symbols === undefined) continue
    const shape = checked[spec.name]!.shape
    for (let axis = 0; axis < symbols.length; axis++) {
      const symbol = symbols[axis]
      if (symbol === null || symbol === undefined) continue
      const size = shape[axis]!
      seen ??= new Map()
      const first = seen.get(symbol)
      if (first === undefined) seen.set(symbol, { size, input: spec.name, axis })
      else if (first.size !== size) {
        return badInput(
          spec,
          `dimension ${axis} ("${symbol}") is ${size} while input "${first.input}" gives "${symbol}" ${first.size} (its dimension ${first.axis})`
        )
      }
    }
  }
  return undefined
}

/**
 * The request's inputs keyed by input name, each checked against the signature; a single
 * unnamed input is accepted only by a model with exactly one input.
 */
export const checkInputs = (
  signature: ModelSignature,
  request: InferRequest
): Record<string, HostTensor> | BadInput => {
  const checked: Record<string, HostTensor> = {}
  if (request.inputs.kind === "single") {
    const only = signature.inputs[0]
    if (only === undefined || signature.inputs.length !== 1) {
      return new BadInput({
        message: `this model takes ${signature.inputs.length} named inputs (${nameList(inputNames(signature))}); received one unnamed input`
      })
    }
    const tensor = checkInput(only, request.inputs.value)
    if (tensor instanceof BadInput) return tensor
    checked[only.name] = tensor
    return only.symbols === undefined ? checked : (checkSymbols(signature, checked) ?? checked)
  }
  const values = request.inputs.values
  const unknown = Object.keys(values).filter((name) => !signature.inputs.some((spec) => spec.name === name))
  if (unknown.length > 0) {
    return new BadInput({
      message: `unknown input ${nameList(unknown)}; this model takes ${nameList(inputNames(signature))}`,
      input: unknown[0]!.slice(0, 256)
    })
  }
  let batch: { readonly size: number; readonly from: string } | undefined
  for (const spec of signature.inputs) {
    const value = values[spec.name]
    if (value === undefined) {
      return new BadInput({
        message: `missing input "${spec.name}"; this model takes ${nameList(inputNames(signature))}`,
        input: spec.name
      })
    }
    const tensor = checkInput(spec, value)
    if (tensor instanceof BadInput) return tensor
    if (spec.shape[0] === null) {
      const size = tensor.shape[0]!
      if (batch !== undefined && size !== batch.size) {
        return badInput(spec, `batch size ${size} differs from input "${batch.from}"'s ${batch.size}`)
      }
      batch ??= { size, from: spec.name }
    }
    checked[spec.name] = tensor
  }
  return checkSymbols(signature, checked) ?? checked
}

/** A BadInput when the request asks for an output the model does not have, else undefined. */
export const checkOutputs = (
  signature: ModelSignature,
  outputs: ReadonlyArray<string> | undefined
): BadInput | undefined => {
  if (outputs === undefined) return undefined
  const known = signature.outputs.map((spec) => spec.name)
  const unknown = outputs.filter((name) => !known.includes(name))
  if (unknown.length === 0) return undefined
  return new BadInput({ message: `unknown output ${nameList(unknown)}; this model has ${nameList(known)}` })
}
