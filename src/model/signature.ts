// Checking a decoded infer request against a model's signature: input names, dtypes and
// shapes, requested output names. Pure; a mismatch is a BadInput saying expected vs received.
import type { InferRequest, InputValue } from "../protocol/messages.js"
import { BadInput } from "../protocol/errors.js"
import { elementCount, fromNumbers, type HostTensor } from "../protocol/tensor.js"
import type { ModelSignature, TensorSpec } from "./specs.js"

export type { ModelSignature, TensorSpec } from "./specs.js"

const formatShape = (shape: ReadonlyArray<number | null>): string =>
  `[${shape.map((d) => (d === null ? "?" : String(d))).join(", ")}]`

/** True when `shape` fits `spec` (same rank; every static dimension equal). */
export const shapeFits = (spec: ReadonlyArray<number | null>, shape: ReadonlyArray<number>): boolean =>
  spec.length === shape.length && spec.every((d, i) => d === null || d === shape[i])

/** The input as a host tensor of the spec's dtype and shape, or why it does not fit. */
export const checkInput = (spec: TensorSpec, value: InputValue): HostTensor | BadInput => {
  const tensor: HostTensor = value.kind === "tensor"
    ? value.tensor
    : { dtype: spec.dtype, shape: value.shape, data: fromNumbers(spec.dtype, value.values) }
  if (tensor.dtype !== spec.dtype) {
    return new BadInput({
      message: `input "${spec.name}": expected dtype ${spec.dtype}, received ${tensor.dtype}`,
      input: spec.name
    })
  }
  if (!shapeFits(spec.shape, tensor.shape)) {
    return new BadInput({
      message: `input "${spec.name}": expected shape ${formatShape(spec.shape)}, received ${formatShape(tensor.shape)}`,
      input: spec.name
    })
  }
  const expected = elementCount(tensor.shape)
  if (tensor.data.length !== expected) {
    return new BadInput({
      message: `input "${spec.name}": shape ${formatShape(tensor.shape)} needs ${expected} values, received ${tensor.data.length}`,
      input: spec.name
    })
  }
  return tensor
}

const nameList = (names: ReadonlyArray<string>): string => names.map((n) => JSON.stringify(n)).join(", ")

/**
 * The request's inputs keyed by input name, each checked against the signature; a single
 * unnamed input is accepted only by a model with exactly one input.
 */
export const checkInputs = (
  signature: ModelSignature,
  request: InferRequest
): Record<string, HostTensor> | BadInput => {
  const expectedNames = signature.inputs.map((spec) => spec.name)
  const checked: Record<string, HostTensor> = {}
  if (request.inputs.kind === "single") {
    const only = signature.inputs[0]
    if (only === undefined || signature.inputs.length !== 1) {
      return new BadInput({
        message: `this model takes ${signature.inputs.length} named inputs (${nameList(expectedNames)}); received one unnamed input`
      })
    }
    const tensor = checkInput(only, request.inputs.value)
    if (tensor instanceof BadInput) return tensor
    checked[only.name] = tensor
    return checked
  }
  const values = request.inputs.values
  const unknown = Object.keys(values).filter((name) => !expectedNames.includes(name))
  if (unknown.length > 0) {
    return new BadInput({
      message: `unknown input ${nameList(unknown)}; this model takes ${nameList(expectedNames)}`,
      input: unknown[0] ?? ""
    })
  }
  for (const spec of signature.inputs) {
    const value = values[spec.name]
    if (value === undefined) {
      return new BadInput({
        message: `missing input "${spec.name}"; this model takes ${nameList(expectedNames)}`,
        input: spec.name
      })
    }
    const tensor = checkInput(spec, value)
    if (tensor instanceof BadInput) return tensor
    checked[spec.name] = tensor
  }
  return checked
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
