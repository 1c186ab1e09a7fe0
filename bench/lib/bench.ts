// What every scenario shares: the run's NATS server, its timing plan, the rows measured so far
// and a live log; plus `driverRows`, which runs one client kind at several concurrencies.
import { forkHelper, type Started } from "./children.js"
import type { DriverSetup } from "./driverSetup.js"
import type { LoadPlan } from "./loadgen.js"
import { processWindow, type Watched, type WindowResult } from "./procStats.js"
import type { Row, Section, Soak, Timing } from "./rows.js"
import { rpcClient } from "./rpc.js"
import type { LatencySummary } from "./stats.js"

export interface BenchContext {
  readonly natsUrl: string
  readonly natsPid: number
  readonly quick: boolean
  readonly timing: Timing
  readonly rows: Array<Row>
  readonly soaks: Array<Soak>
  readonly notes: Array<string>
  readonly log: (line: string) => void
  /** Waits (bounded) until the machine is quiet; called before each measurement. */
  readonly settle: () => Promise<void>
}

/** Waits for a forked helper's first IPC message `{ready: true}`. */
export const helperReady = (helper: Started, timeoutMs = 60_000): Promise<Record<string, unknown>> =>
  new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => fail(new Error(`${helper.name} not ready within ${timeoutMs} ms:\n${helper.output()}`)),
      timeoutMs
    )
    const onMessage = (m: unknown) => {
      if (typeof m === "object" && m !== null && (m as { ready?: unknown }).ready === true) {
        cleanup()
        resolve(m as Record<string, unknown>)
      }
    }
    const onExit = () => fail(new Error(`${helper.name} exited before it was ready:\n${helper.output()}`))
    const cleanup = () => {
      clearTimeout(timer)
      helper.child.off("message", onMessage)
      helper.child.off("exit", onExit)
    }
    const fail = (error: Error) => {
      cleanup()
      reject(error)
    }
    helper.child.on("message", onMessage)
    helper.child.once("exit", onExit)
  })

const fmt = (n: number, digits = 2) => (Number.isFinite(n) ? n.toFixed(digits) : "-")

export const logRow = (ctx: BenchContext, row: Row) => {
  const cpu = row.processes.map((p) => `${p.role} ${p.cpuSeconds.toFixed(2)}s`).join(", ")
  const background =
    row.backgroundCpuSeconds > 0.05 * row.summary.seconds
      ? `  (other load on the machine: ${(row.backgroundCpuSeconds / row.summary.seconds).toFixed(2)} cores)`
      : ""
  const errors = row.summary.errors > 0 ? `  ERRORS ${row.summary.errors}: ${row.summary.firstErrors?.[0] ?? ""}` : ""
  ctx.log(
    `  ${row.model.padEnd(4)} ${row.scenario.padEnd(34)} c=${String(row.concurrency).padEnd(3)} b=${String(row.batch).padEnd(2)} ` +
      `${Math.round(row.summary.perSecond).toString().padStart(7)} ${row.unit}  p50 ${fmt(row.summary.p50Ms, 3)} ms  p99 ${fmt(row.summary.p99Ms, 3)} ms  [${cpu}]${background}${errors}`
  )
}

export interface DriverScenario {
  readonly section: Section
  readonly scenario: string
  readonly model: string
  readonly setup: Omit<DriverSetup, "natsUrl" | "model">
  /** The server-side processes to measure (actors, responders, service nodes, the supervisor). */
  readonly servers: ReadonlyArray<Watched>
  readonly concurrencies: ReadonlyArray<number>
  readonly durationMs: number
  readonly note?: string
}

/** One driver process for the scenario; one row per concurrency, CPU and peak RSS taken over each measurement window. */
export const driverRows = async (ctx: BenchContext, s: DriverScenario): Promise<Array<Row>> => {
  const driver = forkHelper("bench/lib/driver.ts", `driver ${s.setup.kind}`)
  const out: Array<Row> = []
  try {
    await helperReady(driver)
    const rpc = rpcClient(driver.child, driver.name)
    await rpc.call({ type: "setup", setup: { ...s.setup, natsUrl: ctx.natsUrl, model: s.model } }, 60_000)
    for (const concurrency of s.concurrencies) {
      out.push(
        await measure(ctx, s, rpc, driver.pid, {
          concurrency,
          warmupMs: ctx.timing.warmupMs,
          durationMs: s.durationMs,
          maxRequests: 50_000_000
        })
      )
    }
    await rpc.call({ type: "close" }, 30_000).catch(() => undefined)
  } finally {
    await driver.stop()
  }
  return out
}

type Rpc = ReturnType<typeof rpcClient>

/** Runs one plan on a set-up driver and turns it into a row. */
export const measure = async (
  ctx: BenchContext,
  s: DriverScenario,
  rpc: Rpc,
  driverPid: number,
  plan: LoadPlan
): Promise<Row> => {
  const window = processWindow([{ role: "client", pid: driverPid }, ...s.servers, { role: "nats", pid: ctx.natsPid }])
  let measured: WindowResult = { processes: [], backgroundCpuSeconds: Number.NaN }
  const timeout = plan.warmupMs + plan.durationMs + 120_000
  await ctx.settle()
  const summary = await rpc.call<LatencySummary>({ type: "run", plan }, timeout, (event) => {
    if (event === "window-start") window.start()
    else if (event === "window-end") measured = window.end()
  })
  const row: Row = {
    section: s.section,
    scenario: s.scenario,
    model: s.model,
    concurrency: plan.concurrency,
    batch: 1,
    unit: "req/s",
    summary,
    ...measured,
    ...(s.note === undefined ? {} : { note: s.note })
  }
  ctx.rows.push(row)
  logRow(ctx, row)
  return row
}
