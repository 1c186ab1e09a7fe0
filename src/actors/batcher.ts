// Dynamic batching in the actor: checked requests that arrive together are stacked along the batch
// dimension, run as one call, split and answered; an idle actor runs a lone request at once.

import type { Msg } from "@nats-io/transport-node"
import type { Encoding } from "../protocol/codec.js"
import { DeadlineExceeded, InferenceFailed } from "../protocol/errors.js"
import type { BatchingOptions } from "../protocol/ipc.js"
import type { ReplyOutputs } from "../protocol/messages.js"
import { allocate, elementCount, type HostTensor } from "../protocol/tensor.js"
import { messageOf } from "../protocol/values.js"
import { replyError, replyOk } from "./replies.js"
import { acquire, release, type ServingModel, type ServingVersion } from "./servingModel.js"
import type { ActorStats } from "./stats.js"

export interface Job {
  readonly msg: Msg
  readonly encoding: Encoding
  readonly inputs: Readonly<Record<string, HostTensor>>
  readonly outputs: ReadonlyArray<string> | undefined
  /** performance.now() after which the caller has given up. */
  readonly deadline: number
  /** performance.now() when the message arrived (processing time runs from here to the reply). */
  readonly arrived: number
}

export interface BatchContext {
  readonly actorId: string
  readonly modelName: string
  readonly serving: ServingModel
  readonly stats: ActorStats
  /** Called after each batch is answered (in-flight count already lowered). */
  readonly onAnswered: () => void
}

interface Queued extends Job {
  readonly rows: number
  /** Filled in only when the job is compared for a shared batch. */
  key?: string
}

/** Requests can share a call when their non-batch dimensions and requested outputs agree. */
const keyOf = (job: Job): string => {
  let key = job.outputs === undefined ? "*" : job.outputs.join(",")
  for (const name in job.inputs) key += `|${name}:${job.inputs[name]!.shape.slice(1).join("x")}`
  return key
}

const rowsOf = (job: Job): number => {
  for (const name in job.inputs) return job.inputs[name]!.shape[0] ?? 1
  return 1
}

const stack = (jobs: ReadonlyArray<Queued>, rows: number): Record<string, HostTensor> => {
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

/** Makes the batching queue of one actor. `batchable`: every input and output has a dynamic first dimension. */
export const makeBatcher = (ctx: BatchContext, options: BatchingOptions, batchable: () => boolean) => {
  const queue: Array<Queued> = []
  let scheduled = false
  let running = false

  const answer = (job: Queued, version: ServingVersion, computed: Readonly<Record<string, HostTensor>>) => {
    const outputs = version.model.signature.outputs
    const only = outputs[0]
    const result: ReplyOutputs | undefined =
      job.outputs === undefined && outputs.length === 1 && only !== undefined ? computed[only.name] : computed
    if (result === undefined) throw new Error(`the model returned no tensor for output ${only?.name}`)
    replyOk(job.msg, job.encoding, {
      outputs: result,
      model: ctx.modelName,
      version: version.version,
      actor: ctx.actorId
    })
    ctx.stats.served++
    ctx.stats.processingMs += performance.now() - job.arrived
  }

  const fail = (job: Queued, error: DeadlineExceeded | InferenceFailed) => {
    ctx.stats.errors++
    ctx.stats.lastError = error
    replyError(job.msg, job.encoding, error)
    ctx.stats.processingMs += performance.now() - job.arrived
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

  const runOne = async (job: Queued, version: ServingVersion) => {
    try {
      ctx.stats.calls++
      answerOrFail(job, version, await version.model.predict(job.inputs, job.outputs))
    } catch (cause) {
      fail(
        job,
        new InferenceFailed({
          message: `model "${ctx.modelName}" failed while computing: ${messageOf(cause)}`
        })
      )
    }
  }

  const runBatch = async (jobs: ReadonlyArray<Queued>) => {
    const now = performance.now()
    const live: Array<Queued> = []
    for (const job of jobs) {
      if (now > job.deadline)
        fail(
          job,
          new DeadlineExceeded({
            message: `the caller's deadline passed ${(now - job.deadline).toFixed(0)} ms before ${ctx.actorId} could run the request`
          })
        )
      else live.push(job)
    }
    if (live.length === 0) return
    const version = acquire(ctx.serving)
    try {
      if (live.length === 1) return await runOne(live[0]!, version)
      const rows = live.reduce((n, j) => n + j.rows, 0)
      let computed: Record<string, HostTensor>
      try {
        ctx.stats.calls++
        computed = await version.model.predict(stack(live, rows), live[0]!.outputs)
      } catch (cause) {
        const error = new InferenceFailed({
          message: `model "${ctx.modelName}" failed while computing a batch of ${rows}: ${messageOf(cause)}`
        })
        for (const job of live) fail(job, error)
        return
      }
      if (Object.values(computed).some((t) => t.shape[0] !== rows)) {
        for (const job of live) await runOne(job, version)
        return
      }
      let from = 0
      for (const job of live) {
        const mine: Record<string, HostTensor> = {}
        for (const name in computed) mine[name] = slice(computed[name]!, from, job.rows)
        answerOrFail(job, version, mine)
        from += job.rows
      }
    } finally {
      release(version)
      ctx.stats.inflight -= jobs.length
      ctx.onAnswered()
    }
  }

  /** The next batch: the oldest request and the later ones that fit with it. */
  const take = (): Array<Queued> => {
    const first = queue.shift()!
    const batch = [first]
    if (queue.length === 0 || options.maxBatchSize <= 1 || !batchable()) return batch
    let rows = first.rows
    first.key ??= keyOf(first)
    const key = first.key
    for (let i = 0; i < queue.length && rows < options.maxBatchSize; ) {
      const next = queue[i]!
      if (rows + next.rows <= options.maxBatchSize) next.key ??= keyOf(next)
      if (rows + next.rows <= options.maxBatchSize && next.key === key) {
        batch.push(next)
        rows += next.rows
        queue.splice(i, 1)
      } else i++
    }
    return batch
  }

  const flush = async () => {
    scheduled = false
    if (running) return
    running = true
    try {
      // a reply that cannot be sent at all (a closed connection) leaves its caller to time out, never the loop
      while (queue.length > 0) await runBatch(take()).catch(() => undefined)
    } finally {
      running = false
    }
  }

  const schedule = () => {
    if (scheduled || running) return
    scheduled = true
    const waitForMore = options.maxDelayMs > 0 && queue.length < options.maxBatchSize && batchable()
    if (waitForMore) setTimeout(flush, options.maxDelayMs)
    else setImmediate(flush)
  }

  /** Queues a checked request; it counts as in flight until answered. */
  const submit = (job: Job): void => {
    ctx.stats.inflight++
    queue.push({ ...job, rows: rowsOf(job) })
    schedule()
  }

  return { submit }
}

export type Batcher = ReturnType<typeof makeBatcher>
