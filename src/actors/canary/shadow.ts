// The shadow runner: re-runs the candidate on requests the stable version already answered, only when the
// actor is idle (after the replies are on the wire), stacked into batches that are let grow a little (one call
// for many requests); a bounded queue drops the rest.
import type { HostTensor } from "../../protocol/tensor.js"
import { split, stack } from "../batcher.js"
import { hold, release, type ServingVersion } from "../servingModel.js"
import { compareOutputs } from "./compare.js"
import type { Comparison } from "./figures.js"

/** A request the stable version answered, to run again on the candidate. */
export interface ShadowJob {
  readonly inputs: Readonly<Record<string, HostTensor>>
  readonly outputs: ReadonlyArray<string> | undefined
  /** The stable version's outputs for it. */
  readonly expected: Readonly<Record<string, HostTensor>>
}

interface Queued extends ShadowJob {
  readonly rows: number
  /** performance.now() when it was offered. */
  readonly at: number
}

export interface ShadowDeps {
  readonly candidate: ServingVersion
  /** Runs a task when the actor has nothing else to do, never beside a batch (the model loop's idle lane). */
  readonly whenIdle: (task: () => Promise<void>) => void
  /** Rows per shadow call at most (the batch limit in force). */
  readonly maxRows: () => number
  /** A call waits for this many rows to be queued, unless the oldest has waited `maxWaitMs`: fewer, larger calls. */
  readonly minRows: () => number
  readonly maxWaitMs: number
  /** Requests waiting at most; more are dropped (counted). */
  readonly capacity: number
  /** Told of each shadowed request: its comparison, "failed" when the candidate threw, "dropped" when it never ran. */
  readonly onResult: (outcome: Comparison | "failed" | "dropped") => void
}

export interface ShadowRunner {
  readonly offer: (job: ShadowJob) => void
  /** Drops what waits and runs nothing more. */
  readonly stop: () => void
  readonly waiting: () => number
}

const rowsOf = (job: ShadowJob): number => {
  for (const name in job.inputs) return job.inputs[name]!.shape[0] ?? 1
  return 1
}

const sameOutputs = (a: ReadonlyArray<string> | undefined, b: ReadonlyArray<string> | undefined) =>
  a === b || (a !== undefined && b !== undefined && a.length === b.length && a.every((x, i) => x === b[i]))

/** Jobs share a shadow call when they ask for the same outputs and their inputs agree past the first dimension. */
const canShare = (a: ShadowJob, b: ShadowJob): boolean => {
  if (!sameOutputs(a.outputs, b.outputs)) return false
  for (const name in a.inputs) {
    const x = a.inputs[name]!.shape
    const y = b.inputs[name]?.shape
    if (y === undefined || x.length !== y.length) return false
    for (let d = 1; d < x.length; d++) if (x[d] !== y[d]) return false
  }
  return true
}

export const makeShadowRunner = (deps: ShadowDeps): ShadowRunner => {
  const queue: Array<Queued> = []
  let scheduled = false
  let stopped = false
  let rowsQueued = 0
  let timer: ReturnType<typeof setTimeout> | undefined

  /** The oldest job and the later ones that fit beside it, within the row limit. */
  const take = (): Array<Queued> => {
    const first = queue.shift()!
    const batch = [first]
    rowsQueued -= first.rows
    // a fixed batch dimension: one request per call
    if (!deps.candidate.batchable) return batch
    const limit = deps.maxRows()
    let rows = first.rows
    let kept = 0
    for (let i = 0; i < queue.length; i++) {
      const next = queue[i]!
      if (rows + next.rows <= limit && canShare(first, next)) {
        batch.push(next)
        rows += next.rows
        rowsQueued -= next.rows
      } else queue[kept++] = next
    }
    queue.length = kept
    return batch
  }

  const compare = (jobs: ReadonlyArray<Queued>, computed: Record<string, HostTensor>, rows: number) => {
    if (jobs.length === 1) return deps.onResult(compareOutputs(jobs[0]!.expected, computed))
    if (Object.values(computed).some((t) => t.shape[0] !== rows)) {
      for (const _ of jobs) deps.onResult("failed")
      return
    }
    let from = 0
    for (const job of jobs) {
      deps.onResult(compareOutputs(job.expected, split(computed, from, job.rows)))
      from += job.rows
    }
  }

  /** One shadow call; the next waits for the actor's next idle turn. */
  const runOnce = async (): Promise<void> => {
    scheduled = false
    if (stopped || queue.length === 0) return
    const waited = performance.now() - queue[0]!.at
    if (rowsQueued < deps.minRows() && waited < deps.maxWaitMs) {
      // let more gather: one call for many requests costs about what one for a few does
      timer ??= setTimeout(
        () => {
          timer = undefined
          schedule()
        },
        Math.max(1, deps.maxWaitMs - waited)
      )
      return
    }
    const jobs = take()
    const rows = jobs.reduce((n, j) => n + j.rows, 0)
    const { candidate } = deps
    hold(candidate)
    try {
      const inputs = jobs.length === 1 ? jobs[0]!.inputs : stack(jobs, rows)
      compare(jobs, await candidate.model.predict(inputs, jobs[0]!.outputs), rows)
    } catch {
      for (const _ of jobs) deps.onResult("failed")
    } finally {
      release(candidate)
    }
    schedule()
  }

  const schedule = () => {
    if (scheduled || stopped || queue.length === 0) return
    scheduled = true
    deps.whenIdle(runOnce)
  }

  return {
    offer: (job) => {
      if (stopped) return
      if (queue.length >= deps.capacity) return deps.onResult("dropped")
      const rows = rowsOf(job)
      queue.push({ inputs: job.inputs, outputs: job.outputs, expected: job.expected, rows, at: performance.now() })
      rowsQueued += rows
      if (timer === undefined || rowsQueued >= deps.minRows()) schedule()
    },
    stop: () => {
      stopped = true
      queue.length = 0
      rowsQueued = 0
      if (timer !== undefined) clearTimeout(timer)
      timer = undefined
    },
    waiting: () => queue.length
  }
}
