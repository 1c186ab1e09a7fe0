// Batch-job bodies too large for one NATS message: which go through the Object Store (a pure decision from
// the body's size and the server's max_payload), the header naming the object, and the objects' names.

/**
 * On a chunk or a result message: the name of the object (in the `data` bucket of `batchNames`) that holds
 * its full body, in the message's encoding. The message's own body then holds everything but the tensors.
 */
export const OBJECT_HEADER = "Modelbus-Object"

/** Bytes kept free in a message for its headers (Nats-Msg-Id, job, chunk, rows, content type, object name). */
export const HEADER_HEADROOM_BYTES = 1_024

/** Whether a body of `bytes` goes through the Object Store: it would not fit in one message with its headers. */
export const goesByObject = (bytes: number, maxPayload: number): boolean => bytes + HEADER_HEADROOM_BYTES > maxPayload

/** The object holding the body of chunk `chunk` of `job` (written by the submitter). */
export const chunkObject = (job: string, chunk: number) => `${job}.chunk.${chunk}`

/** The object holding the result body of chunk `chunk` of `job` (written by the replica that ran it). */
export const resultObject = (job: string, chunk: number) => `${job}.result.${chunk}`

/** Whether object `name` belongs to `job` (its chunks' and results' objects). */
export const isJobObject = (job: string, name: string) => name.startsWith(`${job}.`)

/** The typed error of every row of a chunk whose object is gone (the job cancelled, or the object deleted). */
export const CHUNK_OBJECT_MISSING_TAG = "ChunkObjectMissing"

/** The typed error of every row of a result whose object is gone when the results are read. */
export const RESULT_OBJECT_MISSING_TAG = "ResultObjectMissing"

/** Bytes of one chunk's body aimed at when rows are over half a message (chunks go by object). */
export const OBJECT_CHUNK_BYTES = 4 * 1024 * 1024

/**
 * The share of the server's message limit a chunk's rows fill at most when they go in the message: the rest
 * is for the row indices, the body's fields and the headers (a body that still does not fit goes by object).
 * The fewer the chunks, the less a job spends per chunk (pulls, acks, events, results) beside its rows.
 */
export const INLINE_CHUNK_SHARE = 7 / 8

/**
 * Rows per chunk when not given: at most 1,024; rows of up to half the server's message limit go in the
 * message, filling at most INLINE_CHUNK_SHARE of it; larger rows go by object, up to OBJECT_CHUNK_BYTES per
 * chunk (at least one row).
 */
export const defaultChunkRows = (bytesPerRow: number, maxPayload: number): number => {
  const perRow = Math.max(1, bytesPerRow)
  const rows = perRow > maxPayload / 2 ? OBJECT_CHUNK_BYTES / perRow : (maxPayload * INLINE_CHUNK_SHARE) / perRow
  return Math.max(1, Math.min(1024, Math.floor(rows)))
}
