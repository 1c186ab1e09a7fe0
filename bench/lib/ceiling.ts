// The in-process ceiling scenario: as many worker processes as actors, each running predict back
// to back at batch 1, 8, 32, 64 with no messaging; plus one process alone at batch 1 (model time).
import { type BenchContext, helperReady, logRow } from "./bench.js"
import { forkHelper, type Started } from "./children.js"
import type { BenchModel } from "./models.js"
import { processWindow } from "./procStats.js"
import { type Row, Section } from "./rows.js"
import { rpcClient } from "./rpc.js"
import type { LatencySummary } from "./stats.js"

type WorkerResult = LatencySummary & { readonly calls: number }

/** Combines the workers' summaries of one window: rates and counts add up; latencies are the workers' mean p50 and worst p99. */
const combine = (results: ReadonlyArray<WorkerResult>): LatencySummary => {
  const sum = (f: (r: WorkerResult) => number) => results.reduce((a, r) => a + f(r), 0)
  return {
    count: sum((r) => r.count),
    errors: sum((r) => r.errors),
    seconds: Math.max(...results.map((r) => r.seconds)),
    perSecond: sum((r) => r.perSecond),
    meanMs: sum((r) => r.meanMs) / results.length,
    p50Ms: sum((r) => r.p50Ms) / results.length,
    p90Ms: Math.max(...results.map((r) => r.p90Ms)),
    p99Ms: Math.max(...results.map((r) => r.p99Ms)),
    maxMs: Math.max(...results.map((r) => r.maxMs))
  }
}

export const runCeiling = async (ctx: BenchContext, model: BenchModel, processes: number): Promise<Array<Row>> => {
  const workers: Array<Started> = Array.from({ length: processes }, (_, i) =>
    forkHelper("bench/lib/ceilingWorker.ts", `ceiling ${model.name} ${i + 1}`, { BENCH_MODEL: model.name })
  )
  const rows: Array<Row> = []
  try {
    await Promise.all(workers.map((w) => helperReady(w)))
    const rpcs = workers.map((w) => rpcClient(w.child, w.name))
    const watched = workers.map((w, i) => ({ role: `worker-${i + 1}`, pid: w.pid }))
    const timeout = ctx.timing.ceilingMs + ctx.timing.warmupMs + 120_000
    const push = (row: Row) => {
      rows.push(row)
      ctx.rows.push(row)
      logRow(ctx, row)
    }
    // Model time of a single request: one process alone, batch 1.
    {
      await ctx.settle()
      await rpcs[0]!.call({ type: "warmup", batch: 1, durationMs: ctx.timing.warmupMs }, timeout)
      const window = processWindow(watched.slice(0, 1))
      window.start()
      const result = await rpcs[0]!.call<WorkerResult>(
        { type: "run", batch: 1, durationMs: ctx.timing.ceilingMs },
        timeout
      )
      push({
        section: Section.ceiling,
        scenario: "in-process, 1 process (model time)",
        model: model.name,
        concurrency: 1,
        batch: 1,
        unit: "samples/s",
        summary: result,
        ...window.end()
      })
    }
    for (const batch of ctx.timing.batches) {
      await ctx.settle()
      await Promise.all(
        rpcs.map((rpc) => rpc.call({ type: "warmup", batch, durationMs: ctx.timing.warmupMs }, timeout))
      )
      const window = processWindow(watched)
      window.start()
      const results = await Promise.all(
        rpcs.map((rpc) => rpc.call<WorkerResult>({ type: "run", batch, durationMs: ctx.timing.ceilingMs }, timeout))
      )
      push({
        section: Section.ceiling,
        scenario: `in-process, ${processes} processes`,
        model: model.name,
        concurrency: processes,
        batch,
        unit: "samples/s",
        summary: combine(results),
        ...window.end(),
        note: "latencies are per predict call (a whole batch); p50 is the workers' mean, p99 the worst"
      })
    }
  } finally {
    await Promise.all(workers.map((w) => w.stop()))
  }
  return rows
}
