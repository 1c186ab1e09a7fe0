// A steady request load for tests under fire: workers call a model back to back, check every
// answer against the expected output, and record failures, retries and the worst latency.
import type { Client, HostTensor } from "../../src/client/index.js"

export interface LoadSummary {
  requests: number
  wrongAnswers: number
  failures: Array<unknown>
  worstMs: number
  /** When the worst request was sent (Date.now(): comparable across processes), 0 before any. */
  worstStartedAt: number
  /** Every request's latency in ms, in completion order. */
  latencies: Array<number>
}

export interface Load {
  readonly summary: LoadSummary
  /** Stops the workers after their current request and returns the summary. */
  readonly stop: () => Promise<LoadSummary>
}

/** The model's answer to each row alone, computed once through the same path the load uses. */
export const expectedAnswers = async (client: Client, model: string, rows: ReadonlyArray<ReadonlyArray<number>>) =>
  Promise.all(
    rows.map(async (row) => Array.from(((await client.infer(model, [row])).outputs as HostTensor).data as Float32Array))
  )

/** The `q` quantile (0–1) of `xs` (nearest rank), NaN when empty. */
export const quantile = (xs: ReadonlyArray<number>, q: number): number => {
  if (xs.length === 0) return Number.NaN
  const sorted = [...xs].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!
}

export const startLoad = (
  client: Client,
  model: string,
  rows: ReadonlyArray<ReadonlyArray<number>>,
  expected: ReadonlyArray<ReadonlyArray<number>>,
  concurrency = 16
): Load => {
  let running = true
  const summary: LoadSummary = {
    requests: 0,
    wrongAnswers: 0,
    failures: [],
    worstMs: 0,
    worstStartedAt: 0,
    latencies: []
  }
  const worker = async (offset: number) => {
    for (let i = offset; running; i += concurrency) {
      const k = i % rows.length
      const started = performance.now()
      const startedAt = Date.now()
      try {
        const reply = await client.infer(model, [rows[k]!])
        const got = Array.from((reply.outputs as HostTensor).data as Float32Array)
        if (got.length !== expected[k]!.length || got.some((v, j) => v !== expected[k]![j])) summary.wrongAnswers++
      } catch (error) {
        summary.failures.push(error)
      }
      summary.requests++
      const ms = performance.now() - started
      summary.latencies.push(ms)
      if (ms > summary.worstMs) {
        summary.worstMs = ms
        summary.worstStartedAt = startedAt
      }
    }
  }
  const workers = Array.from({ length: concurrency }, (_, i) => worker(i))
  return {
    summary,
    stop: async () => {
      running = false
      await Promise.all(workers)
      return summary
    }
  }
}
