// The wire contract of batch jobs, which any NATS client can follow: stream, consumer and bucket names,
// subjects, headers, and the bodies of a chunk, a chunk's result and a job's record.
import type { Encoding } from "./codec.js"

/** The JetStream names of a deployment's batch jobs: the prefix with every character a name cannot hold as `_`. */
export const batchNames = (prefix: string) => {
  const base = prefix.replace(/[^A-Za-z0-9_-]/g, "_")
  return {
    /** Work-queue stream of input chunks, subjects `<prefix>.batch.work.>`. */
    work: `${base}_batch_work`,
    /** Results stream, one message kept per chunk subject, subjects `<prefix>.batch.result.>`. */
    results: `${base}_batch_results`,
    /** KV bucket of job records, keyed by job id. */
    jobs: `${base}_batch_jobs`,
    /** Object Store bucket of chunk and result bodies too large for one message (protocol/batchObjects.ts). */
    data: `${base}_batch_data`
  } as const
}

/** The durable pull consumer every replica of `model` shares on the work stream. */
export const batchConsumer = (model: string) => `batch_${model}`

export const batchSubjects = (prefix: string) => ({
  /** Every chunk of every job (the work stream's subjects). */
  allWork: `${prefix}.batch.work.>`,
  /** The chunks of `model`'s jobs: the filter of its consumer. */
  modelWork: (model: string) => `${prefix}.batch.work.${model}.>`,
  /** Where the chunks of one job go. */
  work: (model: string, job: string) => `${prefix}.batch.work.${model}.${job}`,
  /** Every result (the results stream's subjects). */
  allResults: `${prefix}.batch.result.>`,
  /** The results of one job. */
  jobResults: (job: string) => `${prefix}.batch.result.${job}.>`,
  /** The result of one chunk: the stream keeps the last message of each, so a redelivered chunk never doubles a row. */
  result: (job: string, chunk: number) => `${prefix}.batch.result.${job}.${chunk}`,
  /** Published (core NATS) after a job's chunks are in, so idle replicas start pulling at once. */
  notice: (model: string) => `${prefix}.batch.notice.${model}`,
  /** Published (core NATS) by a replica as it starts a chunk: `ChunkStarted`. */
  started: (model: string) => `${prefix}.events.${model}.batch`
})

/** Headers of chunks and results. `Nats-Msg-Id` of a chunk is `<job>.<chunk>`: a resubmitted chunk is dropped. */
export const BatchHeader = {
  msgId: "Nats-Msg-Id",
  job: "Modelbus-Job",
  chunk: "Modelbus-Chunk",
  /** On a result: rows in the chunk, rows that failed, and which delivery of the chunk produced it. */
  rows: "Modelbus-Rows",
  failed: "Modelbus-Failed",
  delivery: "Modelbus-Delivery"
} as const

export const chunkMsgId = (job: string, chunk: number) => `${job}.${chunk}`

/** A job id: a subject token and a KV key, sortable by submission time. */
export const newJobId = (now = Date.now()): string =>
  `${now.toString(36)}${Math.floor(Math.random() * 36 ** 6)
    .toString(36)
    .padStart(6, "0")}`

export const isJobId = (id: string): boolean => /^[a-z0-9]{6,32}$/.test(id)

/**
 * A chunk, on `work(model, job)`: an infer request body (`inputs`, `outputs?`) with the job, the
 * chunk's number, and the input row index of each of its rows (its first axis).
 */
export interface ChunkBody {
  readonly job: string
  readonly chunk: number
  readonly rows: ReadonlyArray<number>
  readonly inputs: unknown
  readonly outputs?: ReadonlyArray<string>
}

/** A row that failed, by input row index, with its typed error `{_tag, message}`. */
export interface FailedRow {
  readonly row: number
  readonly error: { readonly _tag: string; readonly message: string }
}

/**
 * A chunk's result, on `result(job, chunk)`, in the chunk's encoding: the outputs of the rows that ran
 * (stacked in chunk order; `rows` names them) and the rows that failed. Absent `outputs`: none ran.
 */
export interface ResultBody {
  readonly job: string
  readonly chunk: number
  readonly rows: ReadonlyArray<number>
  readonly outputs?: unknown
  readonly failed: ReadonlyArray<FailedRow>
  readonly model: string
  readonly version: number
  readonly actor: string
  readonly delivery: number
}

export const JobState = { submitting: "submitting", queued: "queued", done: "done", cancelled: "cancelled" } as const
export type JobState = (typeof JobState)[keyof typeof JobState]

/** A job's record in the jobs bucket (JSON), written by the submitter; `done` once a waiter saw every chunk's result. */
export interface JobRecord {
  readonly job: string
  readonly model: string
  readonly state: JobState
  /** Rows in the input, read or not. */
  readonly rows: number
  readonly chunks: number
  readonly chunkRows: number
  readonly outputs?: ReadonlyArray<string>
  readonly encoding: Encoding
  /** Where it came from (a file name), for people. */
  readonly input?: string
  /** ISO times. */
  readonly submittedAt: string
  readonly finishedAt?: string
  /** Rows the submitter could not read, with their typed error. */
  readonly rejected: ReadonlyArray<FailedRow>
  /** Where its chunks are in the work stream: ranges `[first, last]` of stream sequences (set once queued). */
  readonly workSeqs?: ReadonlyArray<readonly [number, number]>
  /** Chunks whose body is an object of the data bucket (`chunkObject`): ranges `[first, last]` of chunk numbers. */
  readonly objectChunks?: ReadonlyArray<readonly [number, number]>
}

/** Stream sequences as ranges `[first, last]` of consecutive ones, in order. */
export const seqRanges = (seqs: ReadonlyArray<number>): Array<[number, number]> => {
  const sorted = [...seqs].sort((a, b) => a - b)
  const ranges: Array<[number, number]> = []
  for (const seq of sorted) {
    const last = ranges.at(-1)
    if (last !== undefined && seq === last[1] + 1) last[1] = seq
    else ranges.push([seq, seq])
  }
  return ranges
}

/** What a replica publishes on `started(model)` as it takes a chunk (delivery 1 is the first). */
export interface ChunkStarted {
  readonly job: string
  readonly chunk: number
  readonly actor: string
  /** The actor's process id. */
  readonly pid: number
  readonly delivery: number
}

/** The typed error of every row of a chunk no delivery of which finished (its actor died each time). */
export const DEAD_LETTER_TAG = "ChunkDeadLettered"

/**
 * Consumer settings a job's submitter applies (the consumer is shared by the model's jobs). Its ack wait and
 * the backoff between redeliveries are protocol/batchTiming.ts's: measured from model calls unless set.
 */
export const BATCH_CONSUMER_DEFAULTS = {
  /**
   * Deliveries of a chunk; after the last one's ack wait, a replica records the chunk as dead-lettered
   * (on the server's max-deliveries advisory).
   */
  maxDeliver: 4,
  /** Chunks taken and not acknowledged, across the model's replicas. */
  maxAckPending: 64
} as const
