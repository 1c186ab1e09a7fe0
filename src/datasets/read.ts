// Reading a dataset file by its extension (`.npy` or `.jsonl`) into a table, checked against the model's
// inputs when they are known: an unreadable file, an unsupported dtype or a shape that does not fit fails whole.
import { readFile } from "node:fs/promises"
import { extname } from "node:path"
import type { TensorMetadata } from "../protocol/metadata.js"
import { type BadDataset, badFile } from "./errors.js"
import { readJsonl } from "./jsonl.js"
import { parseNpy } from "./npy.js"
import { specOf, type Table, UNNAMED } from "./table.js"

export const DatasetFormat = { npy: "npy", jsonl: "jsonl" } as const
export type DatasetFormat = (typeof DatasetFormat)[keyof typeof DatasetFormat]

/** The format a file's extension names, or undefined. */
export const formatOf = (file: string): DatasetFormat | undefined => {
  const ext = extname(file).toLowerCase()
  return ext === ".npy" ? "npy" : ext === ".jsonl" ? "jsonl" : undefined
}

const fmt = (shape: ReadonlyArray<number | null>) => `[${shape.map((d) => d ?? "?").join(", ")}]`

/** A `.npy` array as a table of one unnamed input, checked against the model's only input when known. */
export const npyTable = (
  file: string,
  bytes: Uint8Array,
  specs?: ReadonlyArray<TensorMetadata>
): Table | BadDataset => {
  const tensor = parseNpy(file, bytes)
  if ("_tag" in tensor) return tensor
  if (specs !== undefined) {
    const spec = specOf(specs, UNNAMED)
    if (spec === undefined)
      return badFile(
        file,
        `a .npy file is one input, but the model takes ${specs.length} (${specs.map((s) => s.name).join(", ")}): use .jsonl with {"inputs": {"<name>": …}}`
      )
    if (spec.dtype !== tensor.dtype)
      return badFile(file, `expected dtype ${spec.dtype} for input "${spec.name}", the file holds ${tensor.dtype}`)
    const fits =
      spec.shape.length === tensor.shape.length &&
      spec.shape.every((d, i) => i === 0 || d === null || d === tensor.shape[i])
    if (!fits)
      return badFile(
        file,
        `shape [${tensor.shape.join(", ")}] does not fit input "${spec.name}" ${fmt(spec.shape)} (first axis = rows)`
      )
  }
  return { rows: tensor.shape[0]!, inputs: { [UNNAMED]: tensor }, index: undefined, rejected: [] }
}

/** Reads `file` (`.npy` or `.jsonl`, by extension) into a table, checked against `specs` when given. */
export const readDataset = async (file: string, specs?: ReadonlyArray<TensorMetadata>): Promise<Table | BadDataset> => {
  const format = formatOf(file)
  if (format === undefined) return badFile(file, "unknown input format: expected a .npy or .jsonl file")
  let bytes: Uint8Array
  try {
    bytes = await readFile(file)
  } catch (cause) {
    const code = (cause as { code?: string }).code
    return badFile(file, code === "ENOENT" ? "no such file" : `cannot read it (${code ?? String(cause)})`)
  }
  return format === "npy" ? npyTable(file, bytes, specs) : readJsonl(file, new TextDecoder().decode(bytes), specs)
}
