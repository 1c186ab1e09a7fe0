// Dynamic batching in the actor: requests that arrive together are stacked into one call of at most the batch
// limit's rows, split and answered (a lone one at once); other model work runs between batches, never beside.

import type { Msg } from "@nats-io/transport-node"
import type { Tracer } from "effect"
import type { Encoding } from "../protocol/codec.js"
import { DeadlineExceeded, InferenceFailed } from "../protocol/errors.js"
import { AUTO_BATCH_SIZE, type BatchingOptions, type BatchLimit } from "../protocol/ipc.js"
import type { ReplyOutputs } from "../protocol/messages.js"
import { allocate, elementCount, type HostTensor } from "../protocol/tensor.js"
import { messageOf } from "../protocol/values.js"
import { BATCH_PROBE } from "./batchSizing.js"
import { canaryAnswered, canaryFailed } from "./canary/live.js"
import { type Measurements, observe, outcomeOf } from "./measurements.js"
import { replyError, replyOk } from "./replies.js"
import { acquire, release, type ServingModel, type ServingVersion } from "./servingModel.js"
import type { ActorStats } from "./stats.js"
import { recordRequestSpans } from "./tracing.js"

export interface Job {
  readonly msg: Msg
  readonly encoding: Encoding
  readonly inputs: Readonly<Record<string, HostTensor>>
  readonly outputs: ReadonlyArray<string> | undefined
  /** performance.now() after which the caller has given up. */
  readonly deadline: number
  /** performance.now() when the message arrived (processing time, metrics and traces run from here). */
  readonly arrived: number
  /** The trace the request carries, when this actor exports traces. */
  readonly trace?: Tracer.ExternalSpan | undefined
  /** The request's canary draw in [0, 1) (see canary/split.ts); none: the stable version. */
  readonly draw?: number | undefined
}

export interface BatchContext {
  readonly actorId: string
  readonly modelName: string
  readonly serving: ServingModel
  readonly stats: ActorStats
  /** Called after each batch is answered (in-flight count already lowered). */
  readonly onAnswered: () => void
  /** Where latencies, batch sizes and outcomes are counted, when metrics are on. */
  readonly measure?: Measurements | undefined
  /** Where the spans of requests carrying a trace go, when traces are exported. */
  readonly tracer?: Tracer.Tracer | undefined
}

interface Queued extends Job {
  readonly rows: number
  /** The version it runs on, chosen when it was queued: a batch holds one version only. */
  readonly version: ServingVersion
  /** Set when the job was answered with an error (read only for its trace). */
  failure?: DeadlineExceeded | InferenceFailed | undefined
}

/** When the model call of the batch being run started and ended (performance.now() ms; NaN: not run or not timed). */
interface CallTimes {
  start: number
  end: number
}

const sameOutputs = (a: ReadonlyArray<string> | undefined, b: ReadonlyArray<string> | undefined): boolean => {
  if (a === b) return true
  if (a === undefined || b === undefined || a.length !== b.length) return false
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false
  return true
}

/**
 * Requests can share a call when their non-batch dimensions and requested outputs agree (both were
 * checked against one signature, so they have the same input names and dtypes). Compared in place:
 * no key is built per request.
 */
export const canShareCall = (a: Job, b: Job): boolean => {
  if (!sameOutputs(a.outputs, b.outputs)) return false
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

/** The inputs of `jobs` (sharing a call) stacked along the first dimension into `rows` rows. */
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

/** Rows `[from, from + rows)` of `t`, without a copy. */
export const slice = (t: HostTensor, from: number, rows: number): HostTensor => {
  const rowSize = t.shape[0] === 0 ? 0 : t.data.length / t.shape[0]!
  return {
    dtype: t.dtype,
    shape: [rows, ...t.shape.slice(1)],
    data: t.data.subarray(from * rowSize, (from + rows) * rowSize)
  }
}

/** The limit a batcher starts with: the config's, or the fallback while `auto` is being measured. */
export const initialBatchLimit = (options: BatchingOptions): BatchLimit =>
  options.maxBatchSize === AUTO_BATCH_SIZE
    ? { maxBatchSize: BATCH_PROBE.fallback, source: "probing" }
    : { maxBatchSize: options.maxBatchSize, source: "config" }

/**
 * Makes the batching queue of one actor. `batchable`: every input and output has a dynamic first
 * dimension. Its limit starts at `initialBatchLimit(options)` and is kept in `ctx.stats.batchLimit`.
 */
export const makeBatcher = (ctx: BatchContext, options: BatchingOptions, batchable: () => boolean) => {
  const queue: Array<Queued> = []
  /** Work to run between batches, in order; the loop alternates it with batches while requests wait. */
  const tasks: Array<() => Promise<void>> = []
  /** Work no caller waits for (shadow runs): only when no request is queued, after the bus had a turn. */
  const idleTasks: Array<() => Promise<void>> = []
  let idleScheduled = false
  ctx.stats.batchLimit = initialBatchLimit(options)
  let maxBatchSize = ctx.stats.batchLimit.maxBatchSize
  // one batch runs at a time: its call times are kept in one object
  const callTimes: CallTimes = { start: Number.NaN, end: Number.NaN }
  let scheduled = false
  let running = false

  const answer = (job: Queued, version: ServingVersion, computed: Readonly<Record<string, HostTensor>>) => {
    const outputs = version.model.signature.outputs
    const only = outputs[0]
    const result: ReplyOutputs | undefined =
      job.outputs === undefined && outputs.length === 1 && only !== undefined ? computed[only.name] : computed
    if (result === undefined) throw new Error(`the model returned no tensor for output ${only?.name}`)
    if (ctx.measure !== undefined) {
      ctx.measure.outcomes.ok++
      if (version.candidate) ctx.measure.candidate.outcomes.ok++
    }
    replyOk(job.msg, job.encoding, {
      outputs: result,
      model: ctx.modelName,
      version: version.version,
      actor: ctx.actorId
    })
    ctx.stats.served++
    const ms = performance.now() - job.arrived
    ctx.stats.processingMs += ms
    const canary = ctx.serving.canary
    if (canary !== undefined) canaryAnswered(canary, job, version, computed, ms)
  }

  const fail = (job: Queued, error: DeadlineExceeded | InferenceFailed) => {
    ctx.stats.errors++
    ctx.stats.lastError = error
    if (ctx.measure !== undefined) {
      ctx.measure.outcomes[outcomeOf[error._tag]]++
      if (job.version.candidate) ctx.measure.candidate.outcomes[outcomeOf[error._tag]]++
    }
    if (job.trace !== undefined) job.failure = error
    replyError(job.msg, job.encoding, error)
    const ms = performance.now() - job.arrived
    ctx.stats.processingMs += ms
    const canary = ctx.serving.canary
    if (canary !== undefined) canaryFailed(canary, job.version, ms, error._tag === "InferenceFailed")
  }

  /** Answers, or fails the job when its answer cannot be made (an output the model did not return). */
  const answerOrFail = (job: Queued, version: ServingVersion, computed: Readonly<Record<string, HostTensor>>) => {
    try {
      answer(job, version, computed)
    } catch (cause) {
      fail(
        job,
        new InferenceFailed({ message: `model "${ctx.modelName}" gave no answer to send: ${messageOf(cause)}` })
      )
    }
  }

  /** Counts a model call of `requests` requests that took from `start` to `end` (ms). */
  const measureCall = (m: Measurements, requests: number, start: number, end: number) => {
    observe(m.compute, (end - start) / 1000, requests)
    observe(m.batchSize, requests)
  }

  const runOne = async (job: Queued, version: ServingVersion, times: CallTimes | undefined) => {
    try {
      ctx.stats.calls++
      if (times === undefined) return answerOrFail(job, version, await version.model.predict(job.inputs, job.outputs))
      times.start = performance.now()
      const computed = await version.model.predict(job.inputs, job.outputs)
      times.end = performance.now()
      if (ctx.measure !== undefined) measureCall(ctx.measure, 1, times.start, times.end)
      answerOrFail(job, version, computed)
    } catch (cause) {
      fail(
        job,
        new InferenceFailed({
          message: `model "${ctx.modelName}" failed while computing: ${messageOf(cause)}`
        })
      )
    }
  }

  /** After a batch is answered: its total latencies, and the spans of the requests that carry a trace. */
  const afterBatch = (jobs: ReadonlyArray<Queued>, started: number, times: CallTimes, live: number) => {
    const answered = performance.now()
    const m = ctx.measure
    for (const job of jobs) {
      const arrived = job.arrived
      if (m !== undefined) {
        observe(m.total, (answered - arrived) / 1000)
        if (job.version.candidate) observe(m.candidate.total, (answered - arrived) / 1000)
      }
      if (job.trace !== undefined && ctx.tracer !== undefined) {
        recordRequestSpans(
          ctx.tracer,
          job.trace,
          { model: ctx.modelName, actor: ctx.actorId, batchSize: live },
          { arrived, started, computeStart: times.start, computeEnd: times.end, answered },
          job.failure
        )
      }
    }
  }

  const runBatch = async (jobs: ReadonlyArray<Queued>) => {
    const now = performance.now()
    const m = ctx.measure
    // timed only when measured or traced: off, a batch costs no clock reads beyond the one above
    const times =
      m !== undefined || (ctx.tracer !== undefined && jobs.some((j) => j.trace !== undefined)) ? callTimes : undefined
    callTimes.start = Number.NaN
    callTimes.end = Number.NaN
    const live: Array<Queued> = []
    for (const job of jobs) {
      if (m !== undefined) observe(m.queueWait, (now - job.arrived) / 1000)
      if (now > job.deadline)
        fail(
          job,
          new DeadlineExceeded({
            message: `the caller's deadline passed ${(now - job.deadline).toFixed(0)} ms before ${ctx.actorId} could run the request`
          })
        )
      else live.push(job)
    }
    if (live.length === 0) {
      for (const job of jobs) release(job.version)
      ctx.stats.inflight -= jobs.length
      if (times !== undefined) afterBatch(jobs, now, times, 0)
      ctx.onAnswered()
      return
    }
    const version = live[0]!.version
    try {
      if (live.length === 1) return await runOne(live[0]!, version, times)
      const rows = live.reduce((n, j) => n + j.rows, 0)
      let computed: Record<string, HostTensor>
      try {
        ctx.stats.calls++
        if (times !== undefined) times.start = performance.now()
        computed = await version.model.predict(stack(live, rows), live[0]!.outputs)
        if (times !== undefined) times.end = performance.now()
      } catch (cause) {
        const error = new InferenceFailed({
          message: `model "${ctx.modelName}" failed while computing a batch of ${rows}: ${messageOf(cause)}`
        })
        for (const job of live) fail(job, error)
        return
      }
      if (Object.values(computed).some((t) => t.shape[0] !== rows)) {
        for (const job of live) await runOne(job, version, times)
        return
      }
      if (m !== undefined) measureCall(m, live.length, times!.start, times!.end)
      let from = 0
      for (const job of live) {
        const mine: Record<string, HostTensor> = {}
        for (const name in computed) mine[name] = slice(computed[name]!, from, job.rows)
        answerOrFail(job, version, mine)
        from += job.rows
      }
    } finally {
      for (const job of jobs) release(job.version)
      ctx.stats.inflight -= jobs.length
      if (times !== undefined) afterBatch(jobs, now, times, live.length)
      ctx.onAnswered()
    }
  }

  /** The next batch: the oldest request and the later ones that fit with it (one pass; the rest keep their order). */
  const take = (): Array<Queued> => {
    const first = queue[0]!
    if (queue.length === 1 || maxBatchSize <= 1 || !batchable()) {
      queue.shift()
      return [first]
    }
    const batch = [first]
    let rows = first.rows
    let kept = 0
    for (let i = 1; i < queue.length; i++) {
      const next = queue[i]!
      if (rows + next.rows <= maxBatchSize && next.version === first.version && canShareCall(first, next)) {
        batch.push(next)
        rows += next.rows
      } else queue[kept++] = next
    }
    queue.length = kept
    return batch
  }

  const flush = async () => {
    scheduled = false
    if (running) return
    running = true
    try {
      // a waiting task goes after each batch, so neither requests nor tasks wait for long
      let taskTurn = true
      while (queue.length > 0 || tasks.length > 0) {
        if (tasks.length > 0 && (taskTurn || queue.length === 0)) {
          await tasks.shift()!()
          taskTurn = false
        } else {
          // a reply that cannot be sent at all (a closed connection) leaves its caller to time out, never the loop
          await runBatch(take()).catch(() => undefined)
          taskTurn = true
        }
      }
    } finally {
      running = false
      if (idleTasks.length > 0) scheduleIdle()
    }
  }

  const scheduleIdle = () => {
    if (idleScheduled) return
    idleScheduled = true
    setImmediate(runIdle)
  }

  /** One idle task, if nothing else waits; what arrived meanwhile goes next (batches first). */
  const runIdle = async () => {
    idleScheduled = false
    if (running || scheduled || queue.length > 0 || tasks.length > 0) return
    const task = idleTasks.shift()
    if (task === undefined) return
    running = true
    try {
      await task().catch(() => undefined)
    } finally {
      running = false
    }
    if (queue.length > 0 || tasks.length > 0) {
      scheduled = true
      setImmediate(flush)
    } else if (idleTasks.length > 0) scheduleIdle()
  }

  /** Runs `task` when the batcher is idle (no request queued, no batch or task running); never beside a batch. */
  const whenIdle = (task: () => Promise<void>): void => {
    idleTasks.push(task)
    if (!running && !scheduled) scheduleIdle()
  }

  const schedule = () => {
    if (scheduled || running) return
    scheduled = true
    const waitForMore = options.maxDelayMs > 0 && queue.length < maxBatchSize && batchable()
    if (waitForMore) setTimeout(flush, options.maxDelayMs)
    else setImmediate(flush)
  }

  /** Queues a checked request; it counts as in flight until answered. */
  const submit = (job: Job): void => {
    ctx.stats.inflight++
    // a literal of one shape (not a spread): every queued request shares one hidden class
    queue.push({
      msg: job.msg,
      encoding: job.encoding,
      inputs: job.inputs,
      outputs: job.outputs,
      deadline: job.deadline,
      arrived: job.arrived,
      trace: job.trace,
      draw: job.draw,
      rows: rowsOf(job),
      version: acquire(ctx.serving, job.draw),
      failure: undefined
    })
    schedule()
  }

  /** Runs `task` between batches (no batch runs beside it) and settles with its outcome. */
  const between = <A>(task: () => Promise<A>): Promise<A> =>
    new Promise<A>((resolve, reject) => {
      tasks.push(() => Promise.resolve().then(task).then(resolve, reject))
      if (!scheduled && !running) {
        scheduled = true
        setImmediate(flush)
      }
    })

  /** Applies a new limit to the batches taken from now on. */
  const setLimit = (limit: BatchLimit): void => {
    ctx.stats.batchLimit = limit
    maxBatchSize = limit.maxBatchSize
  }

  return { submit, between, whenIdle, setLimit, limit: (): BatchLimit => ctx.stats.batchLimit }
}

export type Batcher = ReturnType<typeof makeBatcher>
