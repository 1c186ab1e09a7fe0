// Dynamic batching in the actor: the queue of checked requests, the next batch taken from it (the oldest
// request and the later ones that can share its call, within the batch limit), stacking and splitting.

import type { Tracer } from "effect"
import type { ServiceError } from "../protocol/errors.js"
import { AUTO_BATCH_SIZE, type BatchingOptions, type BatchLimit } from "../protocol/ipc.js"
import { allocate, elementCount, type HostTensor } from "../protocol/tensor.js"
import { BATCH_PROBE } from "./batchSizing.js"
import type { CheckedRequest } from "./finish.js"
import type { ActorStats } from "./stats.js"

/** A checked request, admitted and holding the version it runs on (held until it is answered). */
export interface Job extends CheckedRequest {
  /** performance.now() after which the caller has given up. */
  readonly deadline: number
  /** The trace the request carries, when this actor exports traces. */
  readonly trace?: Tracer.ExternalSpan | undefined
}

/** A job in the queue, and what becomes of it once taken. */
export interface Queued extends Job {
  readonly rows: number
  /** Set once its reply is sent. */
  answered: boolean
  /** The error it was answered with (read only for its trace). */
  failure: ServiceError | undefined
}

const sameOutputs = (a: ReadonlyArray<string> | undefined, b: ReadonlyArray<string> | undefined): boolean => {
  if (a === b) return true
  if (a === undefined || b === undefined || a.length !== b.length) return false
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false
  return true
}

/**
 * Requests can share a call when they hold the same version (a canary's candidate and the current
 * version never share a batch) and their non-batch dimensions and requested outputs agree (both passed
 * the same signature's checks, so they have the same input names and dtypes). Compared in place: no
 * key is built per request.
 */
export const canShareCall = (a: Job, b: Job): boolean => {
  if (a.version !== b.version || !sameOutputs(a.outputs, b.outputs)) return false
  for (const name in a.inputs) {
    const x = a.inputs[name]!.shape
    const y = b.inputs[name]?.shape
    if (y === undefined || x.length !== y.length) return false
    for (let d = 1; d < x.length; d++) if (x[d] !== y[d]) return false
  }
  return true
}

const rowsOf = (job: Job): number => {
  for (const name in job.inputs) return job.inputs[name]!.shape[0] ?? 1
  return 1
}

/** The inputs of `jobs` (which can share a call) stacked along the first dimension: `rows` rows in all. */
export const stack = (
  jobs: ReadonlyArray<{ readonly inputs: Readonly<Record<string, HostTensor>> }>,
  rows: number
): Record<string, HostTensor> => {
  const out: Record<string, HostTensor> = {}
  for (const name in jobs[0]!.inputs) {
    const first = jobs[0]!.inputs[name]!
    const rowSize = elementCount(first.shape.slice(1))
    const data = allocate(first.dtype, rows * rowSize)
    let offset = 0
    for (const job of jobs) {
      const part = job.inputs[name]!.data
      data.set(part as never, offset)
      offset += part.length
    }
    out[name] = { dtype: first.dtype, shape: [rows, ...first.shape.slice(1)], data }
  }
  return out
}

const slice = (t: HostTensor, from: number, rows: number): HostTensor => {
  const rowSize = t.shape[0] === 0 ? 0 : t.data.length / t.shape[0]!
  return {
    dtype: t.dtype,
    shape: [rows, ...t.shape.slice(1)],
    data: t.data.subarray(from * rowSize, (from + rows) * rowSize)
  }
}

/** The `rows` rows from row `from` of every output of a stacked call (views, not copies). */
export const split = (
  computed: Readonly<Record<string, HostTensor>>,
  from: number,
  rows: number
): Record<string, HostTensor> => {
  const mine: Record<string, HostTensor> = {}
  for (const name in computed) mine[name] = slice(computed[name]!, from, rows)
  return mine
}

/** The limit a batcher starts with: the config's, or the fallback while `auto` is being measured. */
export const initialBatchLimit = (options: BatchingOptions): BatchLimit =>
  options.maxBatchSize === AUTO_BATCH_SIZE
    ? { maxBatchSize: BATCH_PROBE.fallback, source: "probing" }
    : { maxBatchSize: options.maxBatchSize, source: "config" }

/** The batching queue of one actor. */
export interface Batcher {
  /** Queues a job. */
  readonly push: (job: Job) => void
  /** The next batch (the queue is not empty). */
  readonly take: () => Array<Queued>
  /** Jobs waiting (not yet taken). */
  readonly size: () => number
  /** How long to wait before taking a batch: `maxDelayMs` while the next one could still grow, else 0. */
  readonly delayMs: () => number
  /** Applies a new limit to the batches taken from now on. */
  readonly setLimit: (limit: BatchLimit) => void
  /** The limit in force. */
  readonly limit: () => BatchLimit
}

/**
 * Makes the batching queue of one actor. Its limit starts at `initialBatchLimit(options)` and is kept in
 * `stats.batchLimit`; a version whose batch dimension is fixed runs one request per call.
 */
export const makeBatcher = (stats: ActorStats, options: BatchingOptions): Batcher => {
  const queue: Array<Queued> = []
  stats.batchLimit = initialBatchLimit(options)
  let maxBatchSize = stats.batchLimit.maxBatchSize

  const push = (job: Job): void => {
    // a literal of one shape (not a spread): every queued request shares one hidden class
    queue.push({
      msg: job.msg,
      encoding: job.encoding,
      arrived: job.arrived,
      inputs: job.inputs,
      outputs: job.outputs,
      deadline: job.deadline,
      version: job.version,
      trace: job.trace,
      rows: rowsOf(job),
      answered: false,
      failure: undefined
    })
  }

  /** The oldest job and the later ones that fit with it, in one pass; the rest keep their order. */
  const take = (): Array<Queued> => {
    const first = queue[0]!
    if (queue.length === 1 || maxBatchSize <= 1 || !first.version.batchable) {
      queue.shift()
      return [first]
    }
    const batch = [first]
    let rows = first.rows
    let kept = 0
    for (let i = 1; i < queue.length; i++) {
      const next = queue[i]!
      if (rows + next.rows <= maxBatchSize && canShareCall(first, next)) {
        batch.push(next)
        rows += next.rows
      } else queue[kept++] = next
    }
    queue.length = kept
    return batch
  }

  const delayMs = (): number =>
    options.maxDelayMs > 0 && queue.length > 0 && queue.length < maxBatchSize && queue[0]!.version.batchable
      ? options.maxDelayMs
      : 0

  const setLimit = (limit: BatchLimit): void => {
    stats.batchLimit = limit
    maxBatchSize = limit.maxBatchSize
  }

  return { push, take, size: () => queue.length, delayMs, setLimit, limit: () => stats.batchLimit }
}
