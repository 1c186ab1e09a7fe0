// A dataset as rows ready to chunk: each input stacked along the first axis (the rows that could be
// read), which input row each holds, the rows that could not be read with their typed error, and chunks.
import type { TensorMetadata } from "../protocol/metadata.js"
import { elementCount, type HostTensor } from "../protocol/tensor.js"

/** The key of the one unnamed input (a `.npy` file, or `.jsonl` rows given as nested arrays). */
export const UNNAMED = ""

/** A row that could not be read or run, by its 0-based index in the input, with its typed error. */
export interface RowFailure {
  readonly row: number
  readonly error: { readonly _tag: string; readonly message: string }
}

export interface Table {
  /** Rows in the input file (read or not). */
  readonly rows: number
  /** Each input (`UNNAMED` for a single unnamed one), stacked along the first axis: the rows read. */
  readonly inputs: Readonly<Record<string, HostTensor>>
  /** The input row each stacked row is; undefined when every row was read (row i is input row i). */
  readonly index: ReadonlyArray<number> | undefined
  /** Rows that could not be read, in input order. */
  readonly rejected: ReadonlyArray<RowFailure>
}

/** Rows stacked in the table (the rows read). */
export const stackedRows = (table: Table): number => {
  for (const name in table.inputs) return table.inputs[name]!.shape[0] ?? 0
  return 0
}

/** One chunk of a table: its stacked rows `from` to `from + rows`, and which input rows they are. */
export interface Chunk {
  readonly chunk: number
  readonly inputs: Readonly<Record<string, HostTensor>>
  /** The input row index of each row of the chunk. */
  readonly rowIndex: ReadonlyArray<number>
}

const sliceRows = (t: HostTensor, from: number, rows: number): HostTensor => {
  const rowSize = elementCount(t.shape.slice(1))
  return {
    dtype: t.dtype,
    shape: [rows, ...t.shape.slice(1)],
    data: t.data.subarray(from * rowSize, (from + rows) * rowSize)
  }
}

/** The table's read rows cut into chunks of `chunkRows` rows (the last one shorter), in input order. */
export const chunksOf = (table: Table, chunkRows: number): Array<Chunk> => {
  const total = stackedRows(table)
  const chunks: Array<Chunk> = []
  for (let from = 0, chunk = 0; from < total; from += chunkRows, chunk++) {
    const rows = Math.min(chunkRows, total - from)
    const inputs: Record<string, HostTensor> = {}
    for (const name in table.inputs) inputs[name] = sliceRows(table.inputs[name]!, from, rows)
    const rowIndex = Array.from({ length: rows }, (_, i) => table.index?.[from + i] ?? from + i)
    chunks.push({ chunk, inputs, rowIndex })
  }
  return chunks
}

/** Bytes of one stacked row across every input: how chunk sizes are chosen. */
export const rowBytes = (table: Table): number => {
  let bytes = 0
  for (const name in table.inputs) {
    const t = table.inputs[name]!
    bytes += elementCount(t.shape.slice(1)) * t.data.BYTES_PER_ELEMENT
  }
  return bytes
}

/** A shape as the messages write it: `[?, 4]` for a dynamic first dimension. */
export const formatShape = (shape: ReadonlyArray<number | null>) => `[${shape.map((d) => d ?? "?").join(", ")}]`

/** The spec of a table input: the model's input of that name, or its only input for `UNNAMED`. */
export const specOf = (specs: ReadonlyArray<TensorMetadata> | undefined, name: string): TensorMetadata | undefined =>
  specs === undefined
    ? undefined
    : name === UNNAMED
      ? specs.length === 1
        ? specs[0]
        : undefined
      : specs.find((s) => s.name === name)
