// Writing a batch job's results: `.jsonl` (one line per input row: its outputs, or null when it failed) or
// `.npy` (one output, failed rows NaN or 0), always in input order, and the failures in `<output>.errors.jsonl`.
import { writeFile } from "node:fs/promises"
import type { RowResult } from "../client/batch.js"
import { nestedRow } from "../datasets/jsonl.js"
import { encodeNpy } from "../datasets/npy.js"
import { formatOf } from "../datasets/read.js"
import { BadInput } from "../protocol/errors.js"
import { allocate, elementCount, type HostTensor } from "../protocol/tensor.js"

const isTensor = (o: HostTensor | Readonly<Record<string, HostTensor>>): o is HostTensor =>
  "dtype" in o && ArrayBuffer.isView((o as HostTensor).data)

/** The file failures go to beside `output`. */
export const errorsFileOf = (output: string): string => `${output}.errors.jsonl`

/** One `.jsonl` line per input row: its output as nested arrays (or by name), `null` when it failed. */
export const jsonlLines = (rows: ReadonlyArray<RowResult>): string =>
  rows
    .map((r) => {
      if (r.kind !== "ok") return "null"
      const o = r.outputs
      return JSON.stringify(
        isTensor(o)
          ? nestedRow(o, r.at)
          : Object.fromEntries(Object.entries(o).map(([n, t]) => [n, nestedRow(t, r.at)]))
      )
    })
    .join("\n")
    .concat(rows.length > 0 ? "\n" : "")

/** The one output of every row stacked in input order (failed rows NaN for floats, 0 otherwise), or why not. */
export const stackedOutput = (file: string, rows: ReadonlyArray<RowResult>): HostTensor | BadInput => {
  const first = rows.find((r) => r.kind === "ok")
  if (first === undefined || first.kind !== "ok")
    return new BadInput({ message: `${file}: no row has an output to write` })
  if (!isTensor(first.outputs))
    return new BadInput({
      message: `${file}: a .npy file holds one output, the job has ${Object.keys(first.outputs).length}: write .jsonl, or submit with --outputs NAME`
    })
  const inner = first.outputs.shape.slice(1)
  const size = elementCount(inner)
  const data = allocate(first.outputs.dtype, rows.length * size)
  if (data instanceof Float32Array) data.fill(Number.NaN)
  rows.forEach((r, i) => {
    if (r.kind !== "ok") return
    const t = r.outputs as HostTensor
    data.set(t.data.subarray(r.at * size, (r.at + 1) * size) as never, i * size)
  })
  return { dtype: first.outputs.dtype, shape: [rows.length, ...inner], data }
}

/** The failures, one JSON line each: `{"row": <input index>, "error": {"_tag", "message"}}`. */
export const errorLines = (rows: ReadonlyArray<RowResult>): string =>
  rows
    .flatMap((r, row) =>
      r.kind === "failed"
        ? [JSON.stringify({ row, error: r.failure.error })]
        : r.kind === "missing"
          ? [JSON.stringify({ row, error: { _tag: "Missing", message: "no result for this row" } })]
          : []
    )
    .map((l) => `${l}\n`)
    .join("")

/** Writes the results and the errors file; resolves with the errors file's name and its line count. */
export const writeResults = async (
  output: string,
  rows: ReadonlyArray<RowResult>
): Promise<{ readonly errorsFile: string; readonly failed: number } | BadInput> => {
  const format = formatOf(output)
  if (format === undefined) return new BadInput({ message: `${output}: expected an output file ending .npy or .jsonl` })
  if (format === "npy") {
    const tensor = stackedOutput(output, rows)
    if (tensor instanceof BadInput) return tensor
    await writeFile(output, encodeNpy(tensor))
  } else await writeFile(output, jsonlLines(rows))
  const errors = errorLines(rows)
  const errorsFile = errorsFileOf(output)
  await writeFile(errorsFile, errors)
  return { errorsFile, failed: errors === "" ? 0 : errors.split("\n").length - 1 }
}
