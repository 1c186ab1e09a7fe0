// A job's objects in the batch data bucket, from the submitting side: a result message's body read
// whole (from the object it names, when it names one), and the job's objects deleted when it ends.
import type { JsMsg } from "@nats-io/jetstream"
import type { NatsConnection } from "@nats-io/transport-node"
import type { JobRecord, ResultBody } from "../protocol/batch.js"
import { batchNames } from "../protocol/batch.js"
import { chunkObject, OBJECT_HEADER, RESULT_OBJECT_MISSING_TAG } from "../protocol/batchObjects.js"
import { encodingOfMessage, parseBody } from "../protocol/codec.js"
import { batchData, deleteObjects, jobObjects, readBody } from "../registry/batchData.js"

/** The chunk numbers of ranges `[first, last]`. */
const numbersOf = (ranges: ReadonlyArray<readonly [number, number]>) =>
  ranges.flatMap(([first, last]) => Array.from({ length: last - first + 1 }, (_, i) => first + i))

/**
 * Deletes the job's objects: its chunks' (`chunks`: those its record names, once every chunk has a result),
 * or every object of the job, results' too (`all`: a cancelled job, whose record may not name them all).
 */
export const deleteJobObjects = async (
  nc: NatsConnection,
  prefix: string,
  record: JobRecord,
  which: "chunks" | "all"
): Promise<void> => {
  const named = numbersOf(record.objectChunks ?? []).map((chunk) => chunkObject(record.job, chunk))
  if (which === "chunks" && named.length === 0) return
  const store = await batchData(nc, prefix, false)
  if (store === undefined) return
  await deleteObjects(store, which === "all" ? await jobObjects(store, record.job) : named)
}

/**
 * A reader of result messages' bodies, the data bucket opened once: a message's own body, or the one in the
 * object it names; its rows failed when that object is gone.
 */
export const resultReader = (nc: NatsConnection, prefix: string) => {
  let opened: ReturnType<typeof batchData> | undefined
  return (m: Pick<JsMsg, "data" | "headers">) => {
    opened ??= batchData(nc, prefix, false)
    return resultOfMessage(nc, prefix, opened, m)
  }
}

const resultOfMessage = async (
  nc: NatsConnection,
  prefix: string,
  bucket: ReturnType<typeof batchData>,
  m: Pick<JsMsg, "data" | "headers">
): Promise<ResultBody | undefined> => {
  const encoding = encodingOfMessage(m)
  const parsed = parseBody(m.data, encoding)
  if (!parsed.ok) return undefined
  const head = parsed.value as ResultBody
  const object = m.headers?.get(OBJECT_HEADER)
  if (object === undefined || object === "") return head
  const store = await bucket
  const bytes = store === undefined ? null : await readBody(nc, prefix, store, object)
  if (bytes === null) {
    const message = `the result of chunk ${head.chunk} was stored as object ${object} of bucket ${batchNames(prefix).data}, which is gone (the job was cancelled, or the object deleted)`
    return {
      ...head,
      rows: [],
      failed: [
        ...head.failed,
        ...head.rows.map((row) => ({ row, error: { _tag: RESULT_OBJECT_MISSING_TAG, message } }))
      ].sort((a, b) => a.row - b.row)
    }
  }
  const full = parseBody(bytes, encoding)
  return full.ok ? (full.value as ResultBody) : undefined
}
