// Whether a model is numerically fit to serve: every float weight and every float output of a
// warm-up run on a zero probe batch is finite (no NaN, no ±Infinity). Used before a version goes live.
import type { LoadedModel } from "./loadedModel.js"
import { probeInputs, type TensorSpec } from "./specs.js"

/** Where `values` first holds NaN or ±Infinity and how many such values it holds; undefined when all are finite. */
export const nonFiniteValues = (
  values: ArrayLike<number>
): { readonly index: number; readonly value: number; readonly count: number } | undefined => {
  let index = -1
  let count = 0
  for (let i = 0; i < values.length; i++) {
    if (!Number.isFinite(values[i])) {
      if (index < 0) index = i
      count++
    }
  }
  return index < 0 ? undefined : { index, value: values[index]!, count }
}

/** `weight hidden/bias holds 2 non-finite values of 16 (first NaN at index 3)`, or undefined when finite. */
export const describeNonFinite = (what: string, values: ArrayLike<number>): string | undefined => {
  const found = nonFiniteValues(values)
  if (found === undefined) return undefined
  const plural = found.count === 1 ? "value" : "values"
  return `${what} holds ${found.count} non-finite ${plural} of ${values.length} (first ${found.value} at index ${found.index})`
}

/** True when an input has a dynamic dimension past the batch: a probe that sets it to 1 may be no input the model takes. */
export const hasDynamicInnerDimension = (inputs: ReadonlyArray<TensorSpec>): boolean =>
  inputs.some((input) => input.shape.some((d, axis) => axis > 0 && d === null))

/**
 * What is not finite in `model`: its first non-finite float weight, else the first non-finite float
 * output of one run on a zero probe batch (the run that also compiles its kernels); undefined when
 * it is fit to serve. Rejects when the model throws while computing, unless an input has a dynamic
 * dimension past the batch (a sequence, an audio frame): a model may refuse length 1 there, and then
 * only its weights are checked.
 */
export const findNonFinite = async (model: LoadedModel): Promise<string | undefined> => {
  for (const weight of model.weights()) {
    if (weight.dtype !== "float32") continue
    const problem = describeNonFinite(`weight ${weight.name}`, await weight.values())
    if (problem !== undefined) return problem
  }
  let outputs: Awaited<ReturnType<LoadedModel["predict"]>>
  try {
    outputs = await model.predict(probeInputs(model.signature.inputs))
  } catch (cause) {
    if (hasDynamicInnerDimension(model.signature.inputs)) return undefined
    throw cause
  }
  for (const name in outputs) {
    const output = outputs[name]!
    if (output.dtype !== "float32") continue
    const problem = describeNonFinite(`output ${name}`, output.data as Float32Array)
    if (problem !== undefined) return `${problem} on a zero probe batch`
  }
  return undefined
}
