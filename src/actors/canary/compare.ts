// Comparing a shadow run's outputs with the stable version's for the same request (pure): whether every
// row's argmax agrees (the class a caller would act on) and the largest absolute difference of any value.
import type { HostTensor } from "../../protocol/tensor.js"
import type { Comparison } from "./figures.js"

/** The index of the largest of `data[from, from + length)` (the first one on a tie). */
const argmax = (data: HostTensor["data"], from: number, length: number): number => {
  let best = 0
  let bestValue = Number(data[from])
  for (let i = 1; i < length; i++) {
    const v = Number(data[from + i])
    if (v > bestValue) {
      best = i
      bestValue = v
    }
  }
  return best
}

const sameShape = (a: ReadonlyArray<number>, b: ReadonlyArray<number>) =>
  a.length === b.length && a.every((d, i) => d === b[i])

/** One output of both versions: rows are every dimension but the last, whose argmax is compared. */
const compareTensor = (a: HostTensor, b: HostTensor): Comparison => {
  if (!sameShape(a.shape, b.shape)) return { agree: false, maxAbsDiff: Number.POSITIVE_INFINITY }
  let maxAbsDiff = 0
  for (let i = 0; i < a.data.length; i++) {
    const d = Math.abs(Number(a.data[i]) - Number(b.data[i]))
    // NaN on either side is a difference as large as any
    if (!(d <= maxAbsDiff)) maxAbsDiff = Number.isNaN(d) ? Number.POSITIVE_INFINITY : d
  }
  const width = a.shape.length === 0 ? 1 : a.shape[a.shape.length - 1]!
  let agree = true
  if (width > 1) {
    for (let from = 0; from < a.data.length && agree; from += width) {
      agree = argmax(a.data, from, width) === argmax(b.data, from, width)
    }
  } else agree = maxAbsDiff === 0 || a.dtype === "float32"
  return { agree, maxAbsDiff }
}

/**
 * The stable outputs of a request against the candidate's: they agree when every output the stable
 * version gave has the same argmax on every row in the candidate's (an output of width 1 — a score —
 * agrees unless it is an integer or boolean that differs); the largest difference over all outputs.
 */
export const compareOutputs = (
  stable: Readonly<Record<string, HostTensor>>,
  candidate: Readonly<Record<string, HostTensor>>
): Comparison => {
  let agree = true
  let maxAbsDiff = 0
  for (const name in stable) {
    const other = candidate[name]
    const c: Comparison =
      other === undefined ? { agree: false, maxAbsDiff: Number.POSITIVE_INFINITY } : compareTensor(stable[name]!, other)
    agree &&= c.agree
    if (c.maxAbsDiff > maxAbsDiff) maxAbsDiff = c.maxAbsDiff
  }
  return { agree, maxAbsDiff }
}
