// Running one batch-job chunk on the model: rows with a non-finite float input fail alone, the rest run
// in calls of at most the batch limit, a call that throws is retried row by row so only its poison rows fail.
import { checkInputs, checkOutputs, type ModelSignature } from "../model/signature.js"
import type { FailedRow } from "../protocol/batch.js"
import { requestOf } from "../protocol/codec.js"
import { BadInput } from "../protocol/errors.js"
import { allocate, elementCount, type HostTensor } from "../protocol/tensor.js"
import { messageOf } from "../protocol/values.js"
import { split, stack } from "./batcher.js"

export type Predict = (
  inputs: Readonly<Record<string, HostTensor>>,
  outputs: ReadonlyArray<string> | undefined
) => Promise<Record<string, HostTensor>>

/** What a chunk came to: the outputs of the rows that ran (chunk order; `rows` names them) and those that failed. */
export interface ChunkOutcome {
  readonly rows: Array<number>
  readonly outputs: Record<string, HostTensor> | undefined
  readonly failed: Array<FailedRow>
}

/** Every row of a chunk failed with error `tag`. */
export const failedChunk = (rows: ReadonlyArray<number>, tag: string, message: string): ChunkOutcome => ({
  rows: [],
  outputs: undefined,
  failed: rows.map((row) => ({ row, error: { _tag: tag, message } }))
})

/** Rows (chunk positions) of float inputs that hold NaN or ±Infinity, with what was found. */
export const nonFiniteRows = (inputs: Readonly<Record<string, HostTensor>>, rows: number): Map<number, string> => {
  const bad = new Map<number, string>()
  for (const name in inputs) {
    const t = inputs[name]!
    if (t.dtype !== "float32") continue
    const data = t.data as Float32Array
    const size = rows === 0 ? 0 : data.length / rows
    // one pass over the values: x - x is 0 for every finite x and NaN for NaN and ±Infinity
    let sum = 0
    for (let i = 0; i < data.length; i++) sum += data[i]! - data[i]!
    if (sum === 0) continue
    for (let r = 0; r < rows; r++) {
      if (bad.has(r)) continue
      for (let i = r * size; i < (r + 1) * size; i++) {
        if (!Number.isFinite(data[i]!)) {
          bad.set(r, `input "${name}" holds ${data[i]} at flat index ${i - r * size}: expected finite values`)
          break
        }
      }
    }
  }
  return bad
}

/** The rows at `positions` (in order): views when they follow each other, else stacked copies. */
const pick = (inputs: Readonly<Record<string, HostTensor>>, positions: ReadonlyArray<number>) => {
  const first = positions[0]!
  if (positions[positions.length - 1] === first + positions.length - 1) return split(inputs, first, positions.length)
  return stack(
    positions.map((p) => ({ inputs: split(inputs, p, 1) })),
    positions.length
  )
}

/** Outputs of calls in order, concatenated along the first axis. */
const concat = (parts: ReadonlyArray<Record<string, HostTensor>>, rows: number): Record<string, HostTensor> => {
  const out: Record<string, HostTensor> = {}
  for (const name in parts[0]!) {
    const first = parts[0]![name]!
    const data = allocate(first.dtype, rows * elementCount(first.shape.slice(1)))
    let offset = 0
    for (const p of parts) {
      data.set(p[name]!.data as never, offset)
      offset += p[name]!.data.length
    }
    out[name] = { dtype: first.dtype, shape: [rows, ...first.shape.slice(1)], data }
  }
  return out
}

export interface ChunkRun {
  readonly signature: ModelSignature
  readonly predict: Predict
  /** Rows per model call at most. */
  readonly maxRows: number
}

/**
 * Reads a chunk's body (an infer request body plus its rows' input indices, parsed from `byteLength`
 * bytes) and runs it.
 */
export const runChunk = async (
  run: ChunkRun,
  body: unknown,
  byteLength: number,
  rowIndex: ReadonlyArray<number>
): Promise<ChunkOutcome> => {
  const request = requestOf(body, byteLength)
  if (request instanceof BadInput) return failedChunk(rowIndex, "BadInput", request.message)
  const inputs = checkInputs(run.signature, request)
  if (inputs instanceof BadInput) return failedChunk(rowIndex, "BadInput", inputs.message)
  const unknown = checkOutputs(run.signature, request.outputs)
  if (unknown !== undefined) return failedChunk(rowIndex, "BadInput", unknown.message)
  const rows = Object.values(inputs)[0]?.shape[0] ?? 0
  if (rows !== rowIndex.length)
    return failedChunk(rowIndex, "BadInput", `the chunk holds ${rows} rows but names ${rowIndex.length}`)
  const failed: Array<FailedRow> = []
  const bad = nonFiniteRows(inputs, rows)
  const good: Array<number> = []
  for (let r = 0; r < rows; r++) {
    const problem = bad.get(r)
    if (problem === undefined) good.push(r)
    else failed.push({ row: rowIndex[r]!, error: { _tag: "BadInput", message: problem } })
  }
  const ran: Array<number> = []
  const parts: Array<Record<string, HostTensor>> = []
  const call = async (positions: ReadonlyArray<number>) => {
    const all = positions.length === rows
    return run.predict(all ? inputs : pick(inputs, positions), request.outputs)
  }
  // calls of even size, none above maxRows (129 rows: 65 + 64, not 128 + 1)
  const perCall = Math.ceil(good.length / Math.max(1, Math.ceil(good.length / run.maxRows)))
  for (let from = 0; from < good.length; from += perCall) {
    const positions = good.slice(from, from + perCall)
    try {
      parts.push(await call(positions))
      ran.push(...positions)
    } catch {
      // one row at a time: only the rows the model cannot run fail
      for (const p of positions) {
        try {
          parts.push(await call([p]))
          ran.push(p)
        } catch (cause) {
          failed.push({ row: rowIndex[p]!, error: { _tag: "InferenceFailed", message: messageOf(cause) } })
        }
      }
    }
  }
  failed.sort((a, b) => a.row - b.row)
  return {
    rows: ran.map((p) => rowIndex[p]!),
    outputs: parts.length === 0 ? undefined : concat(parts, ran.length),
    failed
  }
}
