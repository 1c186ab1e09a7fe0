// Batch jobs on JetStream from the submitting side: the streams, bucket and model consumer made on demand,
// a table published as chunks (deduplicated by Nats-Msg-Id), and a job's record, progress and results read back.
import { AckPolicy, jetstream, jetstreamManager, RetentionPolicy } from "@nats-io/jetstream"
import { type KV, type KvEntry, Kvm } from "@nats-io/kv"
import type { ObjectStore } from "@nats-io/obj"
import { type NatsConnection, headers as natsHeaders } from "@nats-io/transport-node"
import * as Schema from "effect/Schema"
import { chunkCount, type RowSource } from "../datasets/source.js"
import { type Chunk, UNNAMED } from "../datasets/table.js"
import { autoReplicas } from "../nats/buckets.js"
import {
  BATCH_CONSUMER_DEFAULTS,
  BatchHeader,
  batchConsumer,
  batchNames,
  batchSubjects,
  chunkMsgId,
  type FailedRow,
  type JobRecord,
  newJobId,
  type ResultBody,
  seqRanges
} from "../protocol/batch.js"
import { chunkObject, goesByObject, OBJECT_HEADER } from "../protocol/batchObjects.js"
import { choiceOfConfig, submittedAckWait, timingConfig } from "../protocol/batchTiming.js"
import { CONTENT_TYPE_HEADER, type Encoding, JSON_CONTENT_TYPE, readTensor, serialize } from "../protocol/codec.js"
import { BadInput } from "../protocol/errors.js"
import { bytesOf, type HostTensor, jsonValues } from "../protocol/tensor.js"
import { isRecord, messageOf } from "../protocol/values.js"
import { batchData, putBody } from "../registry/batchData.js"
import { deleteJobObjects, resultReader } from "./batchObjects.js"

/** A batch-job operation JetStream refused, or a job that does not exist. */
export class BatchJobError extends Schema.TaggedError<BatchJobError>()("BatchJobError", {
  message: Schema.String
}) {}

/**
 * The work-queue stream, the results stream (one message per chunk subject) and the jobs bucket, made if
 * missing: 3 replicas on a JetStream cluster of at least 3 nodes (a node's loss loses no chunk), else 1.
 */
export const ensureBatchStreams = async (nc: NatsConnection, prefix: string): Promise<KV> => {
  const names = batchNames(prefix)
  const replicas = autoReplicas(nc.info)
  const subjects = batchSubjects(prefix)
  const jsm = await jetstreamManager(nc)
  const ensure = async (config: Parameters<typeof jsm.streams.add>[0] & { name: string }) => {
    try {
      await jsm.streams.info(config.name)
    } catch {
      await jsm.streams.add(config)
    }
  }
  await ensure({
    name: names.work,
    subjects: [subjects.allWork],
    retention: RetentionPolicy.Workqueue,
    num_replicas: replicas
  })
  await ensure({
    name: names.results,
    subjects: [subjects.allResults],
    max_msgs_per_subject: 1,
    num_replicas: replicas
  })
  return new Kvm(nc).create(names.jobs, { history: 1, replicas })
}

export interface ConsumerSettings {
  /** An ack wait the submitter sets (--ack-wait); absent, the replicas measure it (protocol/batchTiming.ts). */
  readonly ackWaitMs?: number | undefined
  readonly maxDeliver: number
  readonly maxAckPending: number
}

/**
 * The durable pull consumer the model's replicas share, made or brought to `settings`: its ack wait set, or
 * kept when replicas measured it, or unmeasured; a backoff between redeliveries grown from it.
 */
export const ensureModelConsumer = async (
  nc: NatsConnection,
  prefix: string,
  model: string,
  settings: ConsumerSettings = BATCH_CONSUMER_DEFAULTS
) => {
  const jsm = await jetstreamManager(nc)
  const names = batchNames(prefix)
  const existing = await jsm.consumers.info(names.work, batchConsumer(model)).catch(() => undefined)
  const choice = submittedAckWait(
    existing === undefined ? undefined : choiceOfConfig(existing.config),
    settings.ackWaitMs
  )
  const config = { ...timingConfig(choice, settings.maxDeliver), max_ack_pending: settings.maxAckPending }
  if (existing !== undefined) await jsm.consumers.update(names.work, batchConsumer(model), config)
  else
    await jsm.consumers.add(names.work, {
      durable_name: batchConsumer(model),
      filter_subject: batchSubjects(prefix).modelWork(model),
      ack_policy: AckPolicy.Explicit,
      ...config
    })
}

const wireInputs = (inputs: Readonly<Record<string, HostTensor>>, encoding: Encoding) => {
  const wire = (t: HostTensor) => ({
    dtype: t.dtype,
    shape: t.shape,
    data: encoding === "json" ? jsonValues(t.data) : bytesOf(t.data)
  })
  const names = Object.keys(inputs)
  return names.length === 1 && names[0] === UNNAMED
    ? wire(inputs[UNNAMED]!)
    : Object.fromEntries(names.map((n) => [n, wire(inputs[n]!)]))
}

/** A chunk's message body: an infer request body with the job, the chunk and its input row indices. */
export const chunkBody = (job: string, c: Chunk, outputs: ReadonlyArray<string> | undefined, encoding: Encoding) =>
  serialize(
    {
      job,
      chunk: c.chunk,
      rows: c.rowIndex,
      inputs: wireInputs(c.inputs, encoding),
      ...(outputs === undefined ? {} : { outputs })
    },
    encoding
  )

export interface SubmitOptions {
  readonly chunkRows: number
  readonly outputs?: ReadonlyArray<string> | undefined
  readonly encoding?: Encoding
  readonly input?: string
  readonly consumer?: ConsumerSettings
  /** Told after each chunk is stored. */
  readonly onChunk?: (stored: number, chunks: number) => void
}

const putRecord = (kv: KV, record: JobRecord) => kv.put(record.job, JSON.stringify(record))

/** A server's max_payload when it did not say (nats-server's default). */
const DEFAULT_MAX_PAYLOAD = 1024 * 1024
/** Bytes of chunk bodies being stored as objects at once, at most (past one chunk's). */
const OBJECT_WINDOW_BYTES = 64 * 1024 * 1024

/**
 * Submits the rows of `source` as a job of `model`: its record (state `submitting`), each chunk on the work
 * stream with `Nats-Msg-Id` `<job>.<chunk>` as soon as it is read, then the record as `queued` and a notice to
 * idle replicas. A chunk body too large for one message is stored as object `chunkObject(job, chunk)` and its
 * message names it (header `Modelbus-Object`, a body without the inputs). When a chunk cannot be read or
 * stored, the job is cancelled (the chunks already stored deleted) before the error is thrown: nothing is
 * left half-submitted.
 */
export const submitJob = async (
  nc: NatsConnection,
  prefix: string,
  model: string,
  source: RowSource,
  options: SubmitOptions
): Promise<JobRecord> => {
  const encoding = options.encoding ?? "msgpack"
  const kv = await ensureBatchStreams(nc, prefix)
  await ensureModelConsumer(nc, prefix, model, options.consumer)
  const job = newJobId()
  const chunks = chunkCount(source, options.chunkRows)
  const submitting: JobRecord = {
    job,
    model,
    state: "submitting",
    rows: source.rows,
    chunks,
    chunkRows: options.chunkRows,
    ...(options.outputs === undefined ? {} : { outputs: options.outputs }),
    encoding,
    ...(options.input === undefined ? {} : { input: options.input }),
    submittedAt: new Date().toISOString(),
    rejected: source.rejected
  }
  await putRecord(kv, submitting)
  // replicas that had no consumer to pull from start now, while the chunks go in
  nc.publish(batchSubjects(prefix).notice(model))
  const seqs: Array<number> = []
  const byObject: Array<number> = []
  try {
    await publishChunks(nc, prefix, model, job, source, options, encoding, { seqs, byObject })
  } catch (cause) {
    // the record names what was stored, so cancelling deletes it
    await putRecord(kv, { ...submitting, workSeqs: seqRanges(seqs), objectChunks: seqRanges(byObject) })
      .then(() => cancelJob(nc, prefix, job))
      .catch(() => undefined)
    throw cause
  }
  const queued: JobRecord = {
    ...submitting,
    state: "queued",
    workSeqs: seqRanges(seqs),
    ...(byObject.length === 0 ? {} : { objectChunks: seqRanges(byObject) })
  }
  await putRecord(kv, queued)
  nc.publish(batchSubjects(prefix).notice(model))
  return queued
}

/** Publishes every chunk of `source` on the job's work subject, a window at a time; `stored` gathers what went in. */
const publishChunks = async (
  nc: NatsConnection,
  prefix: string,
  model: string,
  job: string,
  source: RowSource,
  options: SubmitOptions,
  encoding: Encoding,
  stored: { readonly seqs: Array<number>; readonly byObject: Array<number> }
) => {
  const js = jetstream(nc)
  const subject = batchSubjects(prefix).work(model, job)
  const maxPayload = nc.info?.max_payload ?? DEFAULT_MAX_PAYLOAD
  const chunks = chunkCount(source, options.chunkRows)
  let store: Promise<ObjectStore | undefined> | undefined
  // a window of publishes in flight (and of object bytes being stored); each is acknowledged (stored) by the stream
  const window: Array<Promise<unknown>> = []
  let windowBytes = 0
  let done = 0
  try {
    for await (const c of source.chunks(options.chunkRows)) {
      const h = natsHeaders()
      h.set(BatchHeader.job, job)
      h.set(BatchHeader.chunk, String(c.chunk))
      if (encoding === "json") h.set(CONTENT_TYPE_HEADER, JSON_CONTENT_TYPE)
      const body = chunkBody(job, c, options.outputs, encoding)
      const object = goesByObject(body.byteLength, maxPayload) ? chunkObject(job, c.chunk) : undefined
      if (object !== undefined) {
        h.set(OBJECT_HEADER, object)
        stored.byObject.push(c.chunk)
        store ??= batchData(nc, prefix, true)
        windowBytes += body.byteLength
      }
      const put = async () => {
        if (object === undefined) return body
        await putBody((await store)!, object, body)
        return serialize({ job, chunk: c.chunk, rows: c.rowIndex }, encoding)
      }
      window.push(
        put()
          .then((data) => js.publish(subject, data, { msgID: chunkMsgId(job, c.chunk), headers: h }))
          .then((ack) => {
            stored.seqs.push(ack.seq)
            options.onChunk?.(++done, chunks)
          })
      )
      if (window.length >= 32 || windowBytes >= OBJECT_WINDOW_BYTES) {
        await settleAll(window.splice(0))
        windowBytes = 0
      }
    }
  } catch (cause) {
    // what is in flight is stored or not before the caller cancels what was
    await Promise.allSettled(window)
    throw cause
  }
  await settleAll(window)
}

/** Waits for every promise (none left running), then throws the first failure. */
const settleAll = async (promises: ReadonlyArray<Promise<unknown>>) => {
  const failed = (await Promise.allSettled(promises)).find((r) => r.status === "rejected")
  if (failed !== undefined) throw failed.reason
}

const openJobs = async (nc: NatsConnection, prefix: string): Promise<KV> => {
  try {
    return await new Kvm(nc).open(batchNames(prefix).jobs)
  } catch (cause) {
    throw new BatchJobError({ message: `no batch job was ever submitted here (${messageOf(cause)})` })
  }
}

/** A job's record; BatchJobError when there is none. */
export const jobRecord = async (nc: NatsConnection, prefix: string, job: string): Promise<JobRecord> => {
  const kv = await openJobs(nc, prefix)
  const entry = await kv.get(job)
  if (entry === null || entry.operation !== "PUT") throw new BatchJobError({ message: `no batch job ${job}` })
  return entry.json<JobRecord>()
}

/** Every job's record, oldest first. */
export const listJobs = async (nc: NatsConnection, prefix: string): Promise<Array<JobRecord>> => {
  let kv: KV
  try {
    kv = await new Kvm(nc).open(batchNames(prefix).jobs)
  } catch {
    return []
  }
  const records: Array<JobRecord> = []
  for await (const key of await kv.keys()) {
    const entry = await kv.get(key)
    if (entry !== null && entry.operation === "PUT") records.push(entry.json<JobRecord>())
  }
  return records.sort((a, b) => a.submittedAt.localeCompare(b.submittedAt))
}

/** How far a job is, from its results' headers. */
export interface JobProgress {
  readonly chunksDone: number
  readonly rowsDone: number
  readonly rowsFailed: number
  /** Deliveries past the first, over the chunks with a result. */
  readonly redeliveries: number
}

export const progressOf = (record: JobRecord, heads: ReadonlyMap<number, ChunkHead>): JobProgress => {
  let rowsDone = 0
  let rowsFailed = record.rejected.length
  let redeliveries = 0
  for (const h of heads.values()) {
    rowsDone += h.rows
    rowsFailed += h.failed
    redeliveries += Math.max(0, h.delivery - 1)
  }
  return { chunksDone: heads.size, rowsDone: rowsDone + record.rejected.length, rowsFailed, redeliveries }
}

export interface ChunkHead {
  readonly rows: number
  readonly failed: number
  readonly delivery: number
}

const headOf = (h: { get(key: string): string } | undefined): ChunkHead => ({
  rows: Number(h?.get(BatchHeader.rows) ?? 0),
  failed: Number(h?.get(BatchHeader.failed) ?? 0),
  delivery: Number(h?.get(BatchHeader.delivery) ?? 1)
})

/**
 * Reads the job's results (headers only unless `bodies`) with an ordered consumer, calling `onResult` for
 * each, until every chunk has one (`follow`) or until those stored now are read; resolves with the last
 * result of each chunk.
 */
/** Tries of a JetStream call that timed out (a node lost, its streams electing leaders) before it fails. */
const JETSTREAM_TRIES = 5

/** `run`, tried again after a second when it times out, up to JETSTREAM_TRIES times. */
const retried = async <A>(run: () => Promise<A>): Promise<A> => {
  for (let attempt = 1; ; attempt++) {
    try {
      return await run()
    } catch (cause) {
      if (attempt >= JETSTREAM_TRIES || !/timeout/i.test(messageOf(cause))) throw cause
      await new Promise((resolve) => setTimeout(resolve, 1_000))
    }
  }
}

export const readResults = async (
  nc: NatsConnection,
  prefix: string,
  record: JobRecord,
  options: {
    readonly bodies: boolean
    readonly follow: boolean
    readonly onResult?: (heads: ReadonlyMap<number, ChunkHead>) => void
    /** Ends the reading early (the results seen so far are returned). */
    readonly stop?: AbortSignal
  }
): Promise<{ heads: Map<number, ChunkHead>; bodies: Map<number, ResultBody> }> => {
  const heads = new Map<number, ChunkHead>()
  const bodies = new Map<number, ResultBody>()
  if (record.chunks === 0) return { heads, bodies }
  const js = jetstream(nc)
  const names = batchNames(prefix)
  const { consumer, info } = await retried(async () => {
    const consumer = await js.consumers.get(names.results, {
      filter_subjects: batchSubjects(prefix).jobResults(record.job),
      headers_only: !options.bodies
    })
    return { consumer, info: await consumer.info(true) }
  })
  if (!options.follow && info.num_pending === 0) return { heads, bodies }
  const readBody = resultReader(nc, prefix)
  const messages = await consumer.consume({ max_messages: 256 })
  const close = () => void messages.close().catch(() => undefined)
  options.stop?.addEventListener("abort", close, { once: true })
  if (options.stop?.aborted === true) close()
  try {
    for await (const m of messages) {
      const chunk = Number(m.headers?.get(BatchHeader.chunk))
      heads.set(chunk, headOf(m.headers))
      if (options.bodies) {
        const body = await readBody(m)
        if (body !== undefined) bodies.set(chunk, body)
      }
      options.onResult?.(heads)
      if (heads.size >= record.chunks && (options.follow || m.info.pending === 0)) break
      if (!options.follow && m.info.pending === 0) break
    }
  } finally {
    options.stop?.removeEventListener("abort", close)
    await messages.close().catch(() => undefined)
    await consumer.delete().catch(() => undefined)
  }
  return { heads, bodies }
}

/** How long a watch of a job's record that could not start (JetStream away, a leader being elected) waits to try again. */
const WATCH_RETRY_MS = 1_000

/**
 * Watches a job's record and calls `onCancelled` once it says `cancelled` (at once when it already
 * does). A watch that cannot start or ends early is started again; the returned function stops it.
 */
export const watchCancelled = (
  nc: NatsConnection,
  prefix: string,
  job: string,
  onCancelled: () => void
): (() => void) => {
  let stopped = false
  let current: { stop: () => void } | undefined
  let retry: ReturnType<typeof setTimeout> | undefined
  const stateOf = (entry: KvEntry) => {
    try {
      return entry.json<JobRecord>().state
    } catch {
      return undefined
    }
  }
  const watch = async () => {
    while (!stopped) {
      try {
        const updates = await (await openJobs(nc, prefix)).watch({ key: job })
        current = updates
        if (stopped) updates.stop()
        for await (const entry of updates)
          if (entry.operation === "PUT" && stateOf(entry) === "cancelled") {
            stopped = true
            onCancelled()
          }
      } catch {
        // tried again below
      }
      if (!stopped) await new Promise<void>((resolve) => (retry = setTimeout(resolve, WATCH_RETRY_MS)))
    }
  }
  void watch()
  return () => {
    stopped = true
    clearTimeout(retry)
    current?.stop()
  }
}

/**
 * Marks a job `done` (once), after its last chunk's result was seen, and deletes its chunks' objects (every
 * chunk has a result). Its results' objects stay as long as its results.
 */
export const markDone = async (nc: NatsConnection, prefix: string, job: string) => {
  const kv = await openJobs(nc, prefix)
  const entry = await kv.get(job)
  if (entry === null) return
  const record = entry.json<JobRecord>()
  if (record.state !== "queued" && record.state !== "done") return
  if (record.state === "queued")
    await kv
      .update(job, JSON.stringify({ ...record, state: "done", finishedAt: new Date().toISOString() }), entry.revision)
      .catch(() => undefined)
  await deleteJobObjects(nc, prefix, record, "chunks")
}

/**
 * Cancels a job: its record says so (a replica that takes one of its chunks terminates it unrun), then its
 * chunks still in the work stream are deleted one by one by sequence, then every object of the job. (Not a filtered purge: on
 * nats-server 2.9 that makes a work-queue consumer skip the other jobs' chunks stored before the purged ones.)
 */
export const cancelJob = async (nc: NatsConnection, prefix: string, job: string): Promise<JobRecord> => {
  const kv = await openJobs(nc, prefix)
  const record = await jobRecord(nc, prefix, job)
  const cancelled: JobRecord = { ...record, state: "cancelled", finishedAt: new Date().toISOString() }
  await kv.put(job, JSON.stringify(cancelled))
  const jsm = await jetstreamManager(nc)
  const work = batchNames(prefix).work
  const seqs = (record.workSeqs ?? []).flatMap(([first, last]) =>
    Array.from({ length: last - first + 1 }, (_, i) => first + i)
  )
  // a chunk already taken and acknowledged is gone: its delete fails, and that is fine
  for (let i = 0; i < seqs.length; i += 32)
    await Promise.all(
      seqs.slice(i, i + 32).map((seq) => jsm.streams.deleteMessage(work, seq, false).catch(() => false))
    )
  await deleteJobObjects(nc, prefix, record, "all")
  return cancelled
}

/** One output row of a job, by input row: its outputs (one tensor, or by name), or its failure. */
export type RowResult =
  | { readonly kind: "ok"; readonly outputs: HostTensor | Readonly<Record<string, HostTensor>>; readonly at: number }
  | { readonly kind: "failed"; readonly failure: FailedRow }
  | { readonly kind: "missing" }

const decodeOutputs = (raw: unknown): HostTensor | Record<string, HostTensor> | BadInput => {
  if (!isRecord(raw)) return new BadInput({ message: "a result's outputs are not a tensor or a map of tensors" })
  if ("dtype" in raw) return readTensor(raw, "outputs")
  const out: Record<string, HostTensor> = {}
  for (const [name, value] of Object.entries(raw)) {
    if (!isRecord(value)) return new BadInput({ message: `a result's output ${name} is not a tensor` })
    const t = readTensor(value, `outputs.${name}`)
    if (t instanceof BadInput) return t
    out[name] = t
  }
  return out
}

/** Every input row's result, in input order: where its output row is, or why it failed. */
export const rowResults = (record: JobRecord, bodies: ReadonlyMap<number, ResultBody>): Array<RowResult> => {
  const rows: Array<RowResult> = Array.from({ length: record.rows }, () => ({ kind: "missing" }))
  for (const f of record.rejected) rows[f.row] = { kind: "failed", failure: f }
  for (const body of bodies.values()) {
    for (const f of body.failed) rows[f.row] = { kind: "failed", failure: f }
    if (body.outputs === undefined) continue
    const outputs = decodeOutputs(body.outputs)
    if (outputs instanceof BadInput) throw new BatchJobError({ message: `chunk ${body.chunk}: ${outputs.message}` })
    body.rows.forEach((row, at) => {
      rows[row] = { kind: "ok", outputs, at }
    })
  }
  return rows
}
