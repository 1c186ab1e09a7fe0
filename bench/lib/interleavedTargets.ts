// The speed targets from interleaved windows: the in-process ceiling, the NATS echo, the modelbus client
// against canned replies and modelbus itself, each once per round in a rotating order, ratios per round.
import { type BenchContext, helperReady } from "./bench.js"
import { forkHelper, type Started } from "./children.js"
import { DriverKind, type DriverSetup } from "./driverSetup.js"
import { interleave } from "./interleave.js"
import type { LoadPlan } from "./loadgen.js"
import { serversOf, startSupervisor } from "./modelbusRun.js"
import type { BenchModel } from "./models.js"
import { dist } from "./paths.js"
import { processWindow, type Watched, type WindowResult } from "./procStats.js"
import { rpcClient } from "./rpc.js"
import { echoSubject, startCanned, startEcho, startMoleculer } from "./servers.js"
import type { LatencySummary } from "./stats.js"

/** What one round measured of one model. */
export interface RoundFigures {
  /** Samples/s of the in-process workers at the best batch size, and that size. */
  readonly ceilingPerSecond: number
  readonly ceilingBatch: number
  /** Worker CPU per sample at that batch size (µs): the model's own cost at its most efficient. */
  readonly modelCpuUsPerSample: number
  /** One worker, batch 1: the model time of a single request (p50, ms). */
  readonly modelTimeP50Ms: number
  readonly echoPerSecond: number
  readonly echoP50Ms: number
  readonly echoClientCpuUs: number
  readonly clientAlonePerSecond: number
  readonly clientCpuUs: number
  readonly modelbusPerSecond: number
  readonly modelbusP50Ms: number
  readonly actorCpuUs: number
  /** Moleculer 0.14 (msgpackr serializer) on as many nodes, at the same concurrency. */
  readonly peerPerSecond: number
  readonly peerP99Ms: number
  readonly modelbusP99Ms: number
}

export interface InterleavedResult {
  readonly model: string
  readonly rounds: number
  readonly windowMs: number
  readonly figures: ReadonlyArray<RoundFigures>
}

type Variant = "ceiling" | "echo" | "client" | "modelbus" | "peer"
const VARIANTS: ReadonlyArray<Variant> = ["ceiling", "echo", "client", "modelbus", "peer"]
const C = 64

type Rpc = ReturnType<typeof rpcClient>

const startDriver = async (ctx: BenchContext, model: BenchModel, setup: Omit<DriverSetup, "natsUrl" | "model">) => {
  const driver = forkHelper("bench/lib/driver.ts", `driver ${setup.kind} (interleaved)`)
  await helperReady(driver)
  const rpc = rpcClient(driver.child, driver.name)
  await rpc.call({ type: "setup", setup: { ...setup, natsUrl: ctx.natsUrl, model: model.name } }, 60_000)
  return { driver, rpc }
}

/** One closed-loop window on a driver, with the CPU of `watched` over exactly that window. */
const window = async (rpc: Rpc, watched: ReadonlyArray<Watched>, plan: LoadPlan) => {
  const cpu = processWindow(watched)
  let measured: WindowResult = { processes: [], backgroundCpuSeconds: Number.NaN }
  const summary = await rpc.call<LatencySummary>(
    { type: "run", plan },
    plan.warmupMs + plan.durationMs + 120_000,
    (edge) => {
      if (edge === "window-start") cpu.start()
      else if (edge === "window-end") measured = cpu.end()
    }
  )
  /** CPU µs per request of the processes whose role starts with `role`. */
  const cpuUs = (role: string) =>
    (measured.processes.filter((p) => p.role.startsWith(role)).reduce((a, p) => a + p.cpuSeconds, 0) * 1e6) /
    Math.max(1, summary.count)
  return { summary, cpuUs }
}

/** Runs the interleaved rounds for one model on a fresh set of servers and drivers; stops them all after. */
export const runInterleaved = async (
  ctx: BenchContext,
  model: BenchModel,
  processes: number,
  rounds: number
): Promise<InterleavedResult> => {
  const windowMs = ctx.quick ? 400 : 1_500
  const warmupMs = ctx.quick ? 100 : 300
  const plan = (concurrency: number, durationMs = windowMs): LoadPlan => ({
    concurrency,
    warmupMs,
    durationMs,
    maxRequests: 50_000_000
  })
  const stops: Array<() => Promise<unknown>> = []
  try {
    const workers: Array<Started> = Array.from({ length: processes }, (_, i) =>
      forkHelper("bench/lib/ceilingWorker.ts", `ceiling ${model.name} ${i + 1} (interleaved)`, {
        BENCH_MODEL: model.name
      })
    )
    stops.push(() => Promise.all(workers.map((w) => w.stop())))
    await Promise.all(workers.map((w) => helperReady(w)))
    const workerRpcs = workers.map((w) => rpcClient(w.child, w.name))
    const workerWatch = workers.map((w, i) => ({ role: `worker-${i + 1}`, pid: w.pid }))
    const echo = await startEcho(ctx.natsUrl, model.name, processes)
    stops.push(echo.stop)
    const { subjects } = await dist.subjects()
    const canned = await startCanned(ctx.natsUrl, model.name, subjects("bench-canned").infer(model.name), processes)
    stops.push(canned.stop)
    const deployment = await startSupervisor(ctx, model, {})
    if (typeof deployment === "string") throw new Error(`modelbus did not start: ${deployment}`)
    stops.push(deployment.stop)
    const peer = await startMoleculer(ctx.natsUrl, model.name, processes, "msgpack")
    stops.push(peer.stop)
    const drivers = {
      peer: await startDriver(ctx, model, {
        kind: DriverKind.moleculerMsgpack,
        workers: processes,
        timeoutMs: 30_000
      }),
      echo: await startDriver(ctx, model, {
        kind: DriverKind.muxed,
        subject: echoSubject(model.name),
        timeoutMs: 10_000
      }),
      client: await startDriver(ctx, model, { kind: DriverKind.modelbus, prefix: "bench-canned", timeoutMs: 30_000 }),
      modelbus: await startDriver(ctx, model, { kind: DriverKind.modelbus, timeoutMs: 30_000 })
    }
    for (const d of Object.values(drivers)) stops.push(() => d.driver.stop())
    const withClient = (d: { driver: Started }, servers: ReadonlyArray<Watched>) => [
      { role: "client", pid: d.driver.pid },
      ...servers
    ]

    /** The 2-process ceiling at `batch` for `durationMs`: samples/s and worker CPU µs per sample. */
    const ceilingAt = async (batch: number, durationMs: number) => {
      const timeout = durationMs + warmupMs + 120_000
      await Promise.all(workerRpcs.map((rpc) => rpc.call({ type: "warmup", batch, durationMs: warmupMs }, timeout)))
      const cpu = processWindow(workerWatch)
      cpu.start()
      const results = await Promise.all(
        workerRpcs.map((rpc) => rpc.call<LatencySummary>({ type: "run", batch, durationMs }, timeout))
      )
      const used = cpu.end().processes.reduce((a, p) => a + p.cpuSeconds, 0)
      const samples = results.reduce((a, r) => a + r.count, 0)
      return { perSecond: results.reduce((a, r) => a + r.perSecond, 0), cpuUs: (used * 1e6) / Math.max(1, samples) }
    }
    // The best batch size, chosen once by a short pass over the sizes; each round then measures that size.
    let bestBatch = 1
    let bestRate = 0
    for (const batch of ctx.timing.batches) {
      const { perSecond } = await ceilingAt(batch, windowMs / 2)
      if (perSecond > bestRate) [bestBatch, bestRate] = [batch, perSecond]
    }
    ctx.log(`  ${model.name} interleaved: best in-process batch size ${bestBatch} (${Math.round(bestRate)} samples/s)`)

    type Partial = Record<string, number>
    const actors = serversOf(deployment).filter((w) => w.role !== "supervisor")
    const measureVariant = async (v: Variant): Promise<Partial> => {
      if (v === "ceiling") {
        const best = await ceilingAt(bestBatch, windowMs)
        await workerRpcs[0]!.call({ type: "warmup", batch: 1, durationMs: warmupMs }, windowMs + 120_000)
        const single = await workerRpcs[0]!.call<LatencySummary>(
          { type: "run", batch: 1, durationMs: windowMs / 2 },
          windowMs + 120_000
        )
        return {
          ceilingPerSecond: best.perSecond,
          ceilingBatch: bestBatch,
          modelCpuUsPerSample: best.cpuUs,
          modelTimeP50Ms: single.p50Ms
        }
      }
      if (v === "echo") {
        const many = await window(drivers.echo.rpc, withClient(drivers.echo, echo.watched), plan(C))
        const one = await window(drivers.echo.rpc, [], plan(1, windowMs / 2))
        return {
          echoPerSecond: many.summary.perSecond,
          echoClientCpuUs: many.cpuUs("client"),
          echoP50Ms: one.summary.p50Ms
        }
      }
      if (v === "peer") {
        const many = await window(drivers.peer.rpc, [], plan(C))
        return { peerPerSecond: many.summary.perSecond, peerP99Ms: many.summary.p99Ms }
      }
      if (v === "client") {
        const many = await window(drivers.client.rpc, withClient(drivers.client, canned.watched), plan(C))
        return { clientAlonePerSecond: many.summary.perSecond, clientCpuUs: many.cpuUs("client") }
      }
      const many = await window(drivers.modelbus.rpc, withClient(drivers.modelbus, actors), plan(C))
      if (many.summary.errors > 0) ctx.notes.push(`${model.name} interleaved: ${many.summary.errors} modelbus errors`)
      const one = await window(drivers.modelbus.rpc, [], plan(1, windowMs / 2))
      return {
        modelbusPerSecond: many.summary.perSecond,
        modelbusP99Ms: many.summary.p99Ms,
        actorCpuUs: many.cpuUs(`${model.name}-`),
        modelbusP50Ms: one.summary.p50Ms
      }
    }
    const byVariant = await interleave(VARIANTS, rounds, measureVariant, (v, round, f) =>
      ctx.log(
        `  ${model.name} round ${round + 1} ${v.padEnd(8)} ${Object.entries(f)
          .map(([k, x]) => `${k} ${x.toFixed(3)}`)
          .join("  ")}`
      )
    )
    const figures = Array.from(
      { length: rounds },
      (_, i) => Object.assign({}, ...VARIANTS.map((v) => byVariant[v][i])) as RoundFigures
    )
    return { model: model.name, rounds, windowMs, figures }
  } finally {
    for (const stop of stops.reverse()) await stop().catch(() => undefined)
  }
}
