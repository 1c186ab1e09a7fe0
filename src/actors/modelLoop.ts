// The actor's model loop: one model call at a time, a batch taken from the batcher, a task run between
// batches, or work run only while idle; each job is answered through `finish`, a defect logged and answered.
import type { Tracer } from "effect"
import { DeadlineExceeded, InferenceFailed } from "../protocol/errors.js"
import type { InferReply } from "../protocol/messages.js"
import type { HostTensor } from "../protocol/tensor.js"
import { messageOf } from "../protocol/values.js"
import type { Admission } from "./admission.js"
import { type Batcher, type Job, type Queued, split, stack } from "./batcher.js"
import { type Answer, type FinishContext, finish, isError } from "./finish.js"
import { type Measurements, observe } from "./measurements.js"
import { release } from "./servingModel.js"
import { recordRequestSpans } from "./tracing.js"

export interface ModelLoopContext extends FinishContext {
  readonly actorId: string
  readonly modelName: string
  /** Given back the places of each batch once it is answered. */
  readonly admission: Pick<Admission, "release">
  /** Where the spans of requests carrying a trace go, when traces are exported. */
  readonly tracer?: Tracer.Tracer | undefined
  /** Logs a defect (an exception no model failure explains: a bug), once the requests it hit are answered. */
  readonly logDefect: (message: string, cause: unknown) => void
}

export interface ModelLoop {
  /** Queues a checked, admitted job; it is answered, and its place and version given back, once it ran. */
  readonly submit: (job: Job) => void
  /** Runs `task` between batches (no batch runs beside it) and settles with its outcome. */
  readonly between: <A>(task: () => Promise<A>) => Promise<A>
  /**
   * Runs `task` only while the actor is idle — no request queued or running, no `between` task waiting —
   * after the bus had a turn to deliver; the lowest lane (a canary's shadow runs). Its failure is ignored.
   */
  readonly whenIdle: (task: () => Promise<void>) => void
  /** Jobs queued, not yet running. */
  readonly queued: () => number
}

/** When the model call of the batch being run started and ended (performance.now() ms; NaN: not run or not timed). */
interface CallTimes {
  start: number
  end: number
}

/** Counts a model call of `requests` requests that took from `start` to `end` (ms). */
const measureCall = (m: Measurements, requests: number, times: CallTimes) => {
  observe(m.compute, (times.end - times.start) / 1000, requests)
  observe(m.batchSize, requests)
}

export const makeModelLoop = (ctx: ModelLoopContext, batcher: Batcher): ModelLoop => {
  /** Work to run between batches, in order; the loop alternates it with batches while requests wait. */
  const tasks: Array<() => Promise<void>> = []
  /** Work no caller waits for: run one at a time when nothing else waits. */
  const idleTasks: Array<() => Promise<void>> = []
  let idleScheduled = false
  // one batch runs at a time: its call times are kept in one object
  const callTimes: CallTimes = { start: Number.NaN, end: Number.NaN }
  let scheduled = false
  let running = false

  const end = (job: Queued, answer: Answer, computed?: Readonly<Record<string, HostTensor>>) => {
    finish(ctx, job, answer, computed)
    job.answered = true
    if (job.trace !== undefined && isError(answer)) job.failure = answer
  }

  const replyOf = (job: Queued, computed: Readonly<Record<string, HostTensor>>): InferReply => {
    const outputs = job.version.model.signature.outputs
    const only = outputs[0]
    const result =
      job.outputs === undefined && outputs.length === 1 && only !== undefined ? computed[only.name] : computed
    if (result === undefined) throw new Error(`the model returned no tensor for output ${only?.name}`)
    return { outputs: result, model: ctx.modelName, version: job.version.version, actor: ctx.actorId }
  }

  /** Answers a job with its outputs, or InferenceFailed when they cannot be sent (an output missing, a reply too large). */
  const answer = (job: Queued, computed: Readonly<Record<string, HostTensor>>) => {
    try {
      end(job, replyOf(job, computed), computed)
    } catch (cause) {
      end(job, new InferenceFailed({ message: `model "${ctx.modelName}" gave no answer to send: ${messageOf(cause)}` }))
    }
  }

  const runOne = async (job: Queued, times: CallTimes | undefined) => {
    let computed: Record<string, HostTensor>
    try {
      ctx.stats.calls++
      if (times === undefined) computed = await job.version.model.predict(job.inputs, job.outputs)
      else {
        times.start = performance.now()
        computed = await job.version.model.predict(job.inputs, job.outputs)
        times.end = performance.now()
        if (ctx.measure !== undefined) measureCall(ctx.measure, 1, times)
      }
    } catch (cause) {
      return end(
        job,
        new InferenceFailed({ message: `model "${ctx.modelName}" failed while computing: ${messageOf(cause)}` })
      )
    }
    answer(job, computed)
  }

  /** One call for jobs that share it (the same version); one call each when the model does not answer the stack row for row. */
  const runStacked = async (jobs: ReadonlyArray<Queued>, times: CallTimes | undefined) => {
    const version = jobs[0]!.version
    const rows = jobs.reduce((n, j) => n + j.rows, 0)
    let computed: Record<string, HostTensor>
    try {
      ctx.stats.calls++
      if (times !== undefined) times.start = performance.now()
      computed = await version.model.predict(stack(jobs, rows), jobs[0]!.outputs)
      if (times !== undefined) times.end = performance.now()
    } catch (cause) {
      const error = new InferenceFailed({
        message: `model "${ctx.modelName}" failed while computing a batch of ${rows}: ${messageOf(cause)}`
      })
      for (const job of jobs) end(job, error)
      return
    }
    if (Object.values(computed).some((t) => t.shape[0] !== rows)) {
      for (const job of jobs) await runOne(job, times)
      return
    }
    if (ctx.measure !== undefined) measureCall(ctx.measure, jobs.length, times!)
    let from = 0
    for (const job of jobs) {
      answer(job, split(computed, from, job.rows))
      from += job.rows
    }
  }

  /** After an exception nothing above expected: every job not yet answered gets InferenceFailed, and the defect is logged. */
  const answerDefect = (jobs: ReadonlyArray<Queued>, cause: unknown) => {
    const error = new InferenceFailed({
      message: `${ctx.actorId} could not answer: an unexpected error while running ${ctx.modelName}: ${messageOf(cause)}`
    })
    let answered = 0
    let unsent = 0
    for (const job of jobs) {
      if (job.answered) continue
      try {
        end(job, error)
        answered++
      } catch {
        unsent++
      }
    }
    ctx.logDefect(
      `actor ${ctx.actorId}: defect in a batch of ${jobs.length} requests; ${answered} answered InferenceFailed` +
        (unsent > 0 ? `, ${unsent} could not be answered` : ""),
      cause
    )
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

  const runBatch = async (jobs: Array<Queued>) => {
    const now = performance.now()
    const m = ctx.measure
    // timed only when measured or traced: off, a batch costs no clock reads beyond the one above
    const times =
      m !== undefined || (ctx.tracer !== undefined && jobs.some((j) => j.trace !== undefined)) ? callTimes : undefined
    callTimes.start = Number.NaN
    callTimes.end = Number.NaN
    const live: Array<Queued> = []
    try {
      for (const job of jobs) {
        if (m !== undefined) observe(m.queueWait, (now - job.arrived) / 1000)
        if (now > job.deadline)
          end(
            job,
            new DeadlineExceeded({
              message: `the caller's deadline passed ${(now - job.deadline).toFixed(0)} ms before ${ctx.actorId} could run the request`
            })
          )
        else live.push(job)
      }
      if (live.length === 1) await runOne(live[0]!, times)
      else if (live.length > 1) await runStacked(live, times)
    } catch (cause) {
      answerDefect(jobs, cause)
    } finally {
      try {
        for (const job of jobs) release(job.version)
        if (times !== undefined) afterBatch(jobs, now, times, live.length)
      } finally {
        ctx.admission.release(jobs.length)
      }
    }
  }

  const flush = async () => {
    scheduled = false
    if (running) return
    running = true
    try {
      // a waiting task goes after each batch, so neither requests nor tasks wait for long
      let taskTurn = true
      while (batcher.size() > 0 || tasks.length > 0) {
        if (tasks.length > 0 && (taskTurn || batcher.size() === 0)) {
          await tasks.shift()!()
          taskTurn = false
        } else {
          try {
            await runBatch(batcher.take())
          } catch (cause) {
            // outside a batch's own answers (taking it, giving back its versions and places): the loop goes on
            ctx.logDefect(`actor ${ctx.actorId}: defect in the model loop`, cause)
          }
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
    // setImmediate: messages the bus has for this actor are delivered (and queued) first
    setImmediate(runIdle)
  }

  /** One idle task, if nothing else waits; what arrived meanwhile runs next. */
  const runIdle = async () => {
    idleScheduled = false
    if (running || scheduled || batcher.size() > 0 || tasks.length > 0) return
    const task = idleTasks.shift()
    if (task === undefined) return
    running = true
    try {
      await task()
    } catch {
      // idle work is best effort; no request waits for it
    } finally {
      running = false
    }
    if (batcher.size() > 0 || tasks.length > 0) {
      scheduled = true
      setImmediate(flush)
    } else if (idleTasks.length > 0) scheduleIdle()
  }

  const schedule = () => {
    if (scheduled || running) return
    scheduled = true
    const wait = batcher.delayMs()
    if (wait > 0) setTimeout(flush, wait)
    else setImmediate(flush)
  }

  const between = <A>(task: () => Promise<A>): Promise<A> =>
    new Promise<A>((resolve, reject) => {
      tasks.push(() => Promise.resolve().then(task).then(resolve, reject))
      if (!scheduled && !running) {
        scheduled = true
        setImmediate(flush)
      }
    })

  return {
    submit: (job) => {
      batcher.push(job)
      schedule()
    },
    between,
    whenIdle: (task) => {
      idleTasks.push(task)
      if (!running && !scheduled) scheduleIdle()
    },
    queued: batcher.size
  }
}
