// A dataset as a job submits it: how many rows the input holds and which could not be read, the bytes
// of a row (how chunk sizes are chosen), and its readable rows as chunks in input order, produced on demand
// so that a file need not be read whole before its first chunk goes out.
import { type Chunk, chunksOf, type RowFailure, rowBytes, stackedRows, type Table } from "./table.js"

export interface RowSource {
  /** Rows in the input (read or not). */
  readonly rows: number
  /** Rows that are chunked: every row but those `rejected`. */
  readonly readable: number
  /** Bytes of one row across every input. */
  readonly rowBytes: number
  /** Rows that could not be read, in input order. */
  readonly rejected: ReadonlyArray<RowFailure>
  /**
   * The readable rows in chunks of `chunkRows` (the last one shorter), in input order, each read as it is
   * asked for; a read that fails mid-way throws (a BadDataset naming the file).
   */
  readonly chunks: (chunkRows: number) => AsyncIterable<Chunk>
}

/** A table already in memory as a source. */
export const tableSource = (table: Table): RowSource => ({
  rows: table.rows,
  readable: stackedRows(table),
  rowBytes: rowBytes(table),
  rejected: table.rejected,
  chunks: async function* (chunkRows) {
    yield* chunksOf(table, chunkRows)
  }
})

/** How many chunks of `chunkRows` a source comes to. */
export const chunkCount = (source: RowSource, chunkRows: number): number => Math.ceil(source.readable / chunkRows)
