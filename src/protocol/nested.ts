// The nested-number-array shorthand for tensors: reads the shape from the nesting, checks it
// is rectangular and not deeper than MAX_RANK, and flattens the leaves (bigints kept) in row-major order.
import { describe } from "./values.js"

export const MAX_RANK = 8

export type Flattened =
  | { readonly ok: true; readonly shape: ReadonlyArray<number>; readonly values: ReadonlyArray<number | bigint> }
  | { readonly ok: false; readonly reason: string }

/** A number or bool, or a bigint (msgpack's 64-bit integers decode as one). */
const isLeaf = (v: unknown): v is number | boolean | bigint =>
  typeof v === "number" || typeof v === "boolean" || typeof v === "bigint"

const shapeOf = (value: unknown): ReadonlyArray<number> | string => {
  const shape: Array<number> = []
  let cursor: unknown = value
  while (Array.isArray(cursor)) {
    if (shape.length === MAX_RANK) return `nesting deeper than ${MAX_RANK} levels`
    shape.push(cursor.length)
    if (cursor.length === 0) break
    cursor = cursor[0]
  }
  return shape
}

/**
 * Flattens nested arrays of numbers (or booleans) into a shape and row-major values. Refuses, before
 * walking, a shape of more than `maxValues` values (a body cannot hold more leaves than it has bytes).
 */
export const flattenNested = (value: unknown, maxValues = Number.POSITIVE_INFINITY): Flattened => {
  const shape = shapeOf(value)
  if (typeof shape === "string") return { ok: false, reason: shape }
  const count = shape.reduce((n, d) => n * d, 1)
  if (count > maxValues) {
    return {
      ok: false,
      reason: `nesting of shape [${shape.join(", ")}] holds ${count} values; the body has room for at most ${maxValues}`
    }
  }
  const values: Array<number | bigint> = []
  const walk = (node: unknown, depth: number, at: string): string | undefined => {
    if (depth === shape.length) {
      if (!isLeaf(node)) return `expected a number at ${at || "the top"}, received ${describe(node)}`
      values.push(typeof node === "bigint" ? node : Number(node))
      return undefined
    }
    if (!Array.isArray(node) || node.length !== shape[depth]) {
      return `ragged nesting at ${at || "the top"}: expected an array of ${shape[depth]}, received ${describe(node)}`
    }
    for (let i = 0; i < node.length; i++) {
      const problem = walk(node[i], depth + 1, `${at}[${i}]`)
      if (problem !== undefined) return problem
    }
    return undefined
  }
  const problem = walk(value, 0, "")
  return problem === undefined ? { ok: true, shape, values } : { ok: false, reason: problem }
}
