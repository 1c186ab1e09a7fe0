// Opening a dataset file by its extension (`.npy` or `.jsonl`) as a source of rows, checked against the
// model's inputs when they are known: an unreadable file, an unsupported dtype or a shape that does not fit
// fails whole, before any row is submitted. A `.npy` file is read a chunk at a time (npyRows.ts); a
// `.jsonl` file is read whole, since each line must be parsed to know which rows can be read.
import { readFile } from "node:fs/promises"
import { extname } from "node:path"
import type { TensorMetadata } from "../protocol/metadata.js"
import { type BadDataset, badFile, unreadable } from "./errors.js"
import { readJsonl } from "./jsonl.js"
import { openNpyRows } from "./npyRows.js"
import { type RowSource, tableSource } from "./source.js"

export const DatasetFormat = { npy: "npy", jsonl: "jsonl" } as const
export type DatasetFormat = (typeof DatasetFormat)[keyof typeof DatasetFormat]

/** The format a file's extension names, or undefined. */
export const formatOf = (file: string): DatasetFormat | undefined => {
  const ext = extname(file).toLowerCase()
  return ext === ".npy" ? "npy" : ext === ".jsonl" ? "jsonl" : undefined
}

/** A dataset file as a source of rows, or why it cannot be read or does not fit `specs`. */
export const openDataset = async (
  file: string,
  specs?: ReadonlyArray<TensorMetadata>
): Promise<RowSource | BadDataset> => {
  const format = formatOf(file)
  if (format === undefined) return badFile(file, "unknown input format: expected a .npy or .jsonl file")
  if (format === "npy") return openNpyRows(file, specs)
  let text: string
  try {
    text = new TextDecoder().decode(await readFile(file))
  } catch (cause) {
    return unreadable(file, cause)
  }
  const table = readJsonl(file, text, specs)
  return "_tag" in table ? table : tableSource(table)
}
