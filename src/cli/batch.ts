// `modelbus batch submit|status|wait|results|cancel|list`: a dataset file submitted as a job on JetStream,
// followed with a progress line on stderr, re-attached to by id, and its results written in input order.
import type { NatsConnection } from "@nats-io/transport-node"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import {
  BatchJobError,
  type ChunkHead,
  cancelJob,
  jobRecord,
  listJobs,
  markDone,
  progressOf,
  readResults,
  rowResults,
  submitJob,
  watchCancelled
} from "../client/batch.js"
import { makeModelClient } from "../client/ModelClient.js"
import { BadDataset } from "../datasets/errors.js"
import { formatOf, openDataset } from "../datasets/read.js"
import { defaultServers, natsConnection } from "../nats/connection.js"
import { authFromEnv, mergeAuth } from "../nats/credentials.js"
import { BATCH_CONSUMER_DEFAULTS, type JobRecord } from "../protocol/batch.js"
import { defaultChunkRows } from "../protocol/batchObjects.js"
import { ACK_WAIT_FLOOR_MS } from "../protocol/batchTiming.js"
import { BadInput } from "../protocol/errors.js"
import type { TensorMetadata } from "../protocol/metadata.js"
import { DEFAULT_PREFIX } from "../protocol/subjects.js"
import { messageOf } from "../protocol/values.js"
import { writeResults } from "./batchOutput.js"
import type { Connection } from "./client.js"
import { watchConnection } from "./connectionNotices.js"
import { printResult } from "./output.js"
import { batchProgress, durationText } from "./progress.js"

const toStderr = (text: string) => void process.stderr.write(text)

/** Runs `use` on a NATS connection of the command's, closed when it ends. */
const withNats = <A, E>(c: Connection, use: (nc: NatsConnection, prefix: string) => Effect.Effect<A, E>) =>
  Effect.scoped(
    Effect.flatMap(
      natsConnection({
        servers: c.server ?? defaultServers(),
        auth: mergeAuth(c.auth, authFromEnv()),
        name: "modelbus-cli-batch"
      }),
      (nc) => use(nc, c.prefix ?? DEFAULT_PREFIX)
    )
  )

/** A JetStream call: its failure a BatchJobError saying what was being done (one line), or a file's BadDataset. */
const attempt = <A>(what: string, run: () => Promise<A>) =>
  Effect.tryPromise({
    try: run,
    catch: (cause) =>
      cause instanceof BatchJobError || cause instanceof BadDataset
        ? cause
        : new BatchJobError({ message: `${what}: ${messageOf(cause)}` })
  })

/** The model's inputs as a replica describes them; undefined when none answers (the job then waits for one). */
const inputsOf = (nc: NatsConnection, prefix: string, model: string) =>
  Effect.scoped(
    Effect.flatMap(makeModelClient({ connection: nc, prefix, retry: false }), (client) =>
      client.describe(model, { timeoutMs: 2_000 })
    )
  ).pipe(
    Effect.map((m): ReadonlyArray<TensorMetadata> | undefined => m.inputs),
    Effect.catch(() => Effect.succeed(undefined))
  )

const summaryLine = (record: JobRecord, heads: ReadonlyMap<number, ChunkHead>, seconds: number) => {
  const p = progressOf(record, heads)
  return `job ${record.job} done: ${record.rows} rows, ${p.rowsFailed} failed, ${p.redeliveries} redeliveries, in ${durationText(seconds)} (${(record.rows / Math.max(seconds, 1e-3)).toFixed(0)} rows/s)`
}

/**
 * Follows a job until every chunk has a result, with progress on stderr (and a line when the connection
 * drops or comes back); marks it done. A job cancelled meanwhile ends the following with a BatchJobError saying so.
 */
const follow = (nc: NatsConnection, prefix: string, record: JobRecord) =>
  Effect.gen(function* () {
    const report = batchProgress(process.stderr.isTTY === true, toStderr)
    const started = performance.now()
    let firstDone: number | undefined
    const onResult = (heads: ReadonlyMap<number, ChunkHead>) => {
      const { rowsDone } = progressOf(record, heads)
      firstDone ??= rowsDone
      const seconds = (performance.now() - started) / 1000
      report(rowsDone, record.rows, seconds > 0 ? (rowsDone - firstDone) / seconds : 0)
    }
    report(progressOf(record, new Map()).rowsDone, record.rows, 0)
    const cancelled = new AbortController()
    const { heads } = yield* attempt(`following job ${record.job}`, async () => {
      const unwatch = watchCancelled(nc, prefix, record.job, () => cancelled.abort())
      const unwatchConnection = watchConnection(nc, `job ${record.job}`, (line) => toStderr(`${line}\n`))
      try {
        return await readResults(nc, prefix, record, { bodies: false, follow: true, onResult, stop: cancelled.signal })
      } finally {
        unwatch()
        unwatchConnection()
      }
    })
    if (cancelled.signal.aborted && heads.size < record.chunks)
      return yield* new BatchJobError({
        message: `job ${record.job} was cancelled while it was followed: ${heads.size} of ${record.chunks} chunks have a result`
      })
    yield* attempt("marking the job done", () => markDone(nc, prefix, record.job))
    return { heads, seconds: (performance.now() - started) / 1000 }
  })

/** Reads every chunk's result and writes the output and errors files. */
const writeOutput = (nc: NatsConnection, prefix: string, record: JobRecord, output: string) =>
  Effect.gen(function* () {
    const { bodies } = yield* attempt(`reading the results of job ${record.job}`, () =>
      readResults(nc, prefix, record, { bodies: true, follow: false })
    )
    if (bodies.size < record.chunks)
      return yield* new BatchJobError({
        message: `job ${record.job} is not finished: ${bodies.size} of ${record.chunks} chunks have a result (\`modelbus batch wait ${record.job}\`)`
      })
    const rows = yield* attempt("decoding the results", async () => rowResults(record, bodies))
    const written = yield* attempt(`writing ${output}`, () => writeResults(output, rows))
    if ("_tag" in written) return yield* written
    yield* Console.error(
      `wrote ${output} (${record.rows} rows); ${written.failed} failed rows in ${written.errorsFile}`
    )
  })

export interface SubmitFlags {
  readonly input: string
  readonly output: string | undefined
  readonly chunkRows: number | undefined
  readonly outputs: ReadonlyArray<string> | undefined
  readonly detach: boolean
  readonly json: boolean
  /** Absent: measured by the replicas. */
  readonly ackWaitSeconds: number | undefined
  readonly maxDeliver: number
}

/** What is wrong with the --ack-wait and --max-deliver of a submit, or undefined. */
export const consumerFlagsProblem = (flags: Pick<SubmitFlags, "ackWaitSeconds" | "maxDeliver">): string | undefined =>
  flags.ackWaitSeconds !== undefined && flags.ackWaitSeconds < ACK_WAIT_FLOOR_MS / 1000
    ? `--ack-wait: expected whole seconds of at least ${ACK_WAIT_FLOOR_MS / 1000}, received ${flags.ackWaitSeconds}`
    : flags.maxDeliver < 1
      ? `--max-deliver: expected a whole number of at least 1, received ${flags.maxDeliver}`
      : undefined

export const submit = (c: Connection, model: string, flags: SubmitFlags) =>
  Effect.flatMap(
    Effect.suspend(() => {
      const problem = consumerFlagsProblem(flags)
      return problem === undefined ? Effect.void : Effect.fail(new BadInput({ message: problem }))
    }),
    () => submitChecked(c, model, flags)
  )

const submitChecked = (c: Connection, model: string, flags: SubmitFlags) =>
  withNats(c, (nc, prefix) =>
    Effect.gen(function* () {
      if (flags.output !== undefined && formatOf(flags.output) === undefined)
        return yield* new BadDataset({
          message: `${flags.output}: expected an output file ending .npy or .jsonl`,
          file: flags.output
        })
      const specs = yield* inputsOf(nc, prefix, model)
      if (specs === undefined)
        yield* Console.error(
          `no replica of ${model} answered describe: the rows are not checked here, and the job waits for one`
        )
      const source = yield* Effect.promise(() => openDataset(flags.input, specs))
      if ("_tag" in source) return yield* source
      const chunkRows = flags.chunkRows ?? defaultChunkRows(source.rowBytes, nc.info?.max_payload ?? 1024 * 1024)
      const record = yield* attempt(`submitting ${flags.input}`, () =>
        submitJob(nc, prefix, model, source, {
          chunkRows,
          outputs: flags.outputs,
          input: flags.input,
          consumer: {
            ackWaitMs: flags.ackWaitSeconds === undefined ? undefined : flags.ackWaitSeconds * 1000,
            maxDeliver: flags.maxDeliver,
            maxAckPending: BATCH_CONSUMER_DEFAULTS.maxAckPending
          }
        })
      )
      yield* printResult(
        flags.json,
        {
          job: record.job,
          model,
          rows: record.rows,
          chunks: record.chunks,
          chunkRows,
          rejected: source.rejected.length
        },
        () =>
          `job ${record.job}: ${record.rows} rows of ${flags.input} in ${record.chunks} chunks of ${chunkRows} (${source.readable} read, ${source.rejected.length} unreadable)`
      )
      if (flags.detach) return
      const { heads, seconds } = yield* follow(nc, prefix, record)
      yield* Console.error(summaryLine(record, heads, seconds))
      if (flags.output !== undefined) yield* writeOutput(nc, prefix, record, flags.output)
    })
  )

export const wait = (c: Connection, job: string) =>
  withNats(c, (nc, prefix) =>
    Effect.gen(function* () {
      const record = yield* attempt("reading the job", () => jobRecord(nc, prefix, job))
      if (record.state === "cancelled") return yield* new BatchJobError({ message: `job ${job} was cancelled` })
      const { heads, seconds } = yield* follow(nc, prefix, record)
      yield* Console.log(summaryLine(record, heads, seconds))
    })
  )

export const results = (c: Connection, job: string, output: string) =>
  withNats(c, (nc, prefix) =>
    Effect.gen(function* () {
      const record = yield* attempt("reading the job", () => jobRecord(nc, prefix, job))
      yield* writeOutput(nc, prefix, record, output)
    })
  )

/** A job's figures: rows total/done/failed, chunks, redeliveries, rows/s since it was submitted, ETA, state. */
const statusOf = (nc: NatsConnection, prefix: string, record: JobRecord) =>
  Effect.gen(function* () {
    const { heads } = yield* attempt(`reading the results of job ${record.job}`, () =>
      readResults(nc, prefix, record, { bodies: false, follow: false })
    )
    const p = progressOf(record, heads)
    const finished = record.state === "done" || (record.state === "queued" && p.chunksDone >= record.chunks)
    const end = record.finishedAt === undefined ? Date.now() : Date.parse(record.finishedAt)
    const seconds = Math.max(1e-3, (end - Date.parse(record.submittedAt)) / 1000)
    const rowsPerSecond = p.rowsDone / seconds
    return {
      job: record.job,
      model: record.model,
      state: finished ? "done" : record.state,
      rows: record.rows,
      done: p.rowsDone,
      failed: p.rowsFailed,
      chunks: record.chunks,
      chunksDone: p.chunksDone,
      redeliveries: p.redeliveries,
      rowsPerSecond,
      etaSeconds: finished || rowsPerSecond === 0 ? 0 : (record.rows - p.rowsDone) / rowsPerSecond,
      submittedAt: record.submittedAt
    }
  })

type JobStatus = Effect.Success<ReturnType<typeof statusOf>>

const statusLine = (s: JobStatus) =>
  `${s.job}  ${s.model}  ${s.state}  ${s.done}/${s.rows} rows  ${s.failed} failed  ${s.redeliveries} redeliveries  ${s.rowsPerSecond.toFixed(0)} rows/s` +
  (s.state === "queued" ? `  ETA ${durationText(s.etaSeconds)}` : "")

export const status = (c: Connection, job: string | undefined, json: boolean) =>
  withNats(c, (nc, prefix) =>
    Effect.gen(function* () {
      if (job !== undefined) {
        const record = yield* attempt("reading the job", () => jobRecord(nc, prefix, job))
        return yield* printResult(json, yield* statusOf(nc, prefix, record), statusLine)
      }
      const records = yield* attempt("listing jobs", () => listJobs(nc, prefix))
      const jobs = yield* Effect.forEach(records, (r) => statusOf(nc, prefix, r))
      yield* printResult(json, { jobs }, ({ jobs }) =>
        jobs.length === 0 ? "no batch job" : jobs.map(statusLine).join("\n")
      )
    })
  )

export const list = (c: Connection, json: boolean) =>
  withNats(c, (nc, prefix) =>
    Effect.gen(function* () {
      const jobs = yield* attempt("listing jobs", () => listJobs(nc, prefix))
      yield* printResult(json, { jobs }, ({ jobs }) =>
        jobs.length === 0
          ? "no batch job"
          : jobs
              .map((j) => `${j.job}  ${j.model}  ${j.state}  ${j.rows} rows  ${j.submittedAt}  ${j.input ?? ""}`)
              .join("\n")
      )
    })
  )

export const cancel = (c: Connection, job: string) =>
  withNats(c, (nc, prefix) =>
    Effect.gen(function* () {
      const record = yield* attempt(`cancelling job ${job}`, () => cancelJob(nc, prefix, job))
      yield* Console.log(`job ${record.job} cancelled: its chunks not yet taken are deleted, those running finish`)
    })
  )
