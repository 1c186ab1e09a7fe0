// A .npy file read a chunk of rows at a time: its header is read and checked first (dtype, shape, the
// model's input, the file's size), then each chunk's rows are read only when the job asks for them, so a
// job's first chunk goes out at once and a file larger than memory can be submitted.
import { type FileHandle, open } from "node:fs/promises"
import type { TensorMetadata } from "../protocol/metadata.js"
import { bytesPerElement, elementCount, viewBytes } from "../protocol/tensor.js"
import { BadDataset, badFile, unreadable } from "./errors.js"
import { NPY_PREAMBLE_BYTES, type NpyLayout, npyDataStart, npyLayout } from "./npy.js"
import type { RowSource } from "./source.js"
import { type Chunk, formatShape, specOf, UNNAMED } from "./table.js"

/** Why a .npy array of `layout` does not fit the model's inputs `specs` (one unnamed input), or undefined. */
const npyFitProblem = (
  file: string,
  layout: Pick<NpyLayout, "dtype" | "shape">,
  specs: ReadonlyArray<TensorMetadata> | undefined
): BadDataset | undefined => {
  if (specs === undefined) return undefined
  const spec = specOf(specs, UNNAMED)
  if (spec === undefined)
    return badFile(
      file,
      `a .npy file is one input, but the model takes ${specs.length} (${specs.map((s) => s.name).join(", ")}): use .jsonl with {"inputs": {"<name>": …}}`
    )
  if (spec.dtype !== layout.dtype)
    return badFile(file, `expected dtype ${spec.dtype} for input "${spec.name}", the file holds ${layout.dtype}`)
  const fits =
    spec.shape.length === layout.shape.length &&
    spec.shape.every((d, i) => i === 0 || d === null || d === layout.shape[i])
  return fits
    ? undefined
    : badFile(
        file,
        `shape ${formatShape(layout.shape)} does not fit input "${spec.name}" ${formatShape(spec.shape)} (first axis = rows)`
      )
}

/** `file` opened for reading, or a BadDataset saying why it cannot be. */
const openForReading = async (file: string): Promise<FileHandle | BadDataset> => {
  try {
    return await open(file, "r")
  } catch (cause) {
    return unreadable(file, cause)
  }
}

/** Reads `length` bytes at `position` (fewer only at the end of the file). */
const readAt = async (handle: FileHandle, position: number, length: number): Promise<Uint8Array> => {
  const bytes = new Uint8Array(length)
  let filled = 0
  while (filled < length) {
    const { bytesRead } = await handle.read(bytes, filled, length - filled, position + filled)
    if (bytesRead === 0) break
    filled += bytesRead
  }
  return filled === length ? bytes : bytes.subarray(0, filled)
}

/** The rows of a checked .npy layout, read from `file` in chunks. */
const npySource = (file: string, layout: NpyLayout): RowSource => {
  const rows = layout.shape[0]!
  const rowShape = layout.shape.slice(1)
  const rowBytes = elementCount(rowShape) * bytesPerElement[layout.dtype]
  return {
    rows,
    readable: rows,
    rowBytes,
    rejected: [],
    chunks: async function* (chunkRows) {
      const handle = await openForReading(file)
      if (handle instanceof BadDataset) throw handle
      try {
        for (let from = 0, chunk = 0; from < rows; from += chunkRows, chunk++) {
          const count = Math.min(chunkRows, rows - from)
          let bytes: Uint8Array
          try {
            bytes = await readAt(handle, layout.dataStart + from * rowBytes, count * rowBytes)
          } catch (cause) {
            throw unreadable(file, cause)
          }
          if (bytes.byteLength < count * rowBytes)
            throw badFile(
              file,
              `the file ended at row ${from + Math.floor(bytes.byteLength / rowBytes)} of ${rows} while it was read: did it change?`
            )
          const c: Chunk = {
            chunk,
            inputs: {
              [UNNAMED]: { dtype: layout.dtype, shape: [count, ...rowShape], data: viewBytes(layout.dtype, bytes)! }
            },
            rowIndex: Array.from({ length: count }, (_, i) => from + i)
          }
          yield c
        }
      } finally {
        await handle.close()
      }
    }
  }
}

/**
 * A .npy file as a source of rows, its header checked against the model's only input when known (`specs`),
 * or why it cannot be read; no row is read until its chunk is asked for.
 */
export const openNpyRows = async (
  file: string,
  specs?: ReadonlyArray<TensorMetadata>
): Promise<RowSource | BadDataset> => {
  const handle = await openForReading(file)
  if (handle instanceof BadDataset) return handle
  try {
    const size = (await handle.stat()).size
    const dataStart = npyDataStart(file, await readAt(handle, 0, Math.min(size, NPY_PREAMBLE_BYTES)))
    if (typeof dataStart !== "number") return dataStart
    // a header length past the file's end (cut short, or garbage) is not read into memory
    if (dataStart > size) return badFile(file, "the .npy header is cut short")
    const layout = npyLayout(file, await readAt(handle, 0, Math.min(size, dataStart)), size)
    if ("_tag" in layout) return layout
    return npyFitProblem(file, layout, specs) ?? npySource(file, layout)
  } catch (cause) {
    return unreadable(file, cause)
  } finally {
    await handle.close()
  }
}
