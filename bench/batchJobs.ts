// Batch jobs: rows/s of a job on Iris and on the CNN against the in-process ceiling on the same cores (as many
// processes as the replicas have cores, each running the model's predict back to back at the best batch size),
// alternated round by round, with CPU per row by process; and online infer p50/p99 at c=16 with and without a job
// running, in interleaved rounds. Printed with `uptime`, written to BENCHMARKS.md.
// With --bus-cores=N the last N cores run the bus (nats-server, the submitting CLI, this bench) and the replicas
// and the in-process ceiling the others, as when NATS runs on machines of its own; the online part is left out.
// With --heap-ab=1 a second supervisor serves the CNN as `cnn-default-heap`, its actors started with V8's default
// heap limits (its NODE_OPTIONS names a heap size, so actorFlags.ts adds none), and each CNN round runs a job on each.
//   npm run build && npx tsx bench/batchJobs.ts [--rounds=4] [--job-rounds=3] [--seconds=6] [--replicas=2] [--iris-rows=100000] [--cnn-rows=100000] [--bus-cores=0] [--heap-ab=0]
import { execFileSync } from "node:child_process"
import { mkdir, mkdtemp, writeFile } from "node:fs/promises"
import { cpus, tmpdir } from "node:os"
import { join } from "node:path"
import { connect as natsConnect } from "@nats-io/transport-node"
import { encodeNpy } from "../src/datasets/npy.js"
import { defaultChunkRows } from "../src/protocol/batchObjects.js"
import { helperReady } from "./lib/bench.js"
import { adopt, forkHelper, killAllNow, spawnCli, stopAll } from "./lib/children.js"
import { ensureCnnModel } from "./lib/cnnModel.js"
import { pinTree } from "./lib/cpuPinning.js"
import { interleave, pairedRatios, spreadOf } from "./lib/interleave.js"
import { closedLoop } from "./lib/loadgen.js"
import { type BenchModel, modelNamed, sampleData } from "./lib/models.js"
import { CNN_MODEL_DIR, dist, IRIS_MODEL_DIR, RESULTS_DIR, ROOT } from "./lib/paths.js"
import { round, sampleProcess } from "./lib/procStats.js"
import { rpcClient } from "./lib/rpc.js"
import { writeSection } from "./lib/sections.js"

const arg = (name: string, fallback: number) =>
  Number(process.argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3) ?? fallback)
const ROUNDS = arg("rounds", 4)
const SECONDS = arg("seconds", 6)
const REPLICAS = arg("replicas", 2)
const CONCURRENCY = 16
const IRIS_ROWS = arg("iris-rows", 100_000)
const CNN_ROWS = arg("cnn-rows", 100_000)
/** Rounds of (in-process ceiling, job) per model. */
const JOB_ROUNDS = arg("job-rounds", 3)
/** Seconds of each in-process ceiling window (one per candidate batch size, each round). */
const CEILING_SECONDS = 2
/** Rows of the Iris job beside the online load: enough to outlast a window. */
const ONLINE_JOB_ROWS = arg("online-job-rows", 2_000_000)
const CLI = join(ROOT, "dist/cli/main.js")

process.on("exit", () => killAllNow())
let stopNats: () => Promise<void> = async () => {}
for (const signal of ["SIGINT", "SIGTERM"] as const)
  process.once(signal, () => void Promise.all([stopAll(), stopNats()]).finally(() => process.exit(130)))

const uptime = () => execFileSync("uptime", { encoding: "utf8" }).trim()
const cpuOf = (pids: ReadonlyArray<number>) => pids.reduce((s, pid) => s + (sampleProcess(pid)?.cpuSeconds ?? 0), 0)

interface JobFigure {
  readonly rows: number
  readonly rounds: number
  readonly seconds: number
  readonly rowsPerSecond: number
  readonly ceiling: {
    /** Median rows/s of each candidate batch size over the rounds. */
    readonly perBatch: Record<string, number>
    /** The batch size that was best in most rounds. */
    readonly bestBatch: number
    readonly processes: number
    readonly rowsPerSecond: number
    readonly cpuUsPerRow: number
  }
  /** Rows/s of the job ÷ the in-process ceiling's, paired per round. */
  readonly ofCeiling: ReturnType<typeof spreadOf>
  readonly cpuUsPerRow: {
    readonly actors: number
    readonly natsServer: number
    readonly supervisor: number
    readonly submittingCli: number
  }
  /**
   * Where a job's time goes (medians of rounds): from the CLI's start to the first chunk started on a replica,
   * the rows/s between that and the last result stored (paired ÷ the in-process rows/s), and from it to the exit.
   */
  readonly phases: {
    readonly startS: number
    readonly runRowsPerSecond: number
    readonly runOfCeiling: ReturnType<typeof spreadOf>
    readonly endS: number
  }
  /** Resident memory of an actor once a job is done, MB (mean over the replicas, median of rounds). */
  readonly actorRssMb: number
  /** Each round: its in-process window and its job (rows/s read back for paired ratios). */
  readonly perRound: ReadonlyArray<{ readonly ceiling: unknown; readonly job: { readonly rowsPerSecond: number } }>
}

/** Also run each CNN round on actors with V8's default heap limits (a second supervisor). */
const HEAP_AB = arg("heap-ab", 0) > 0
/** The CNN served by actors with V8's default heap limits, for --heap-ab. */
const DEFAULT_HEAP_CNN = "cnn-default-heap"
/** Cores given to the bus alone (0: the bus shares every core with the replicas). */
const BUS_CORES = arg("bus-cores", 0)
const ALL_CORES = Array.from({ length: cpus().length }, (_, i) => i)
const MODEL_CORES = BUS_CORES > 0 ? ALL_CORES.slice(0, ALL_CORES.length - BUS_CORES) : ALL_CORES
const BUS_CORE_LIST = BUS_CORES > 0 ? ALL_CORES.slice(ALL_CORES.length - BUS_CORES) : ALL_CORES
if (MODEL_CORES.length === 0)
  throw new Error(`--bus-cores=${BUS_CORES} leaves no core of ${ALL_CORES.length} to the replicas`)
/** The cores the replicas can use: the in-process ceiling runs as many processes. */
const CORES = Math.min(REPLICAS, MODEL_CORES.length)

/**
 * The in-process ceiling on the same cores: CORES processes with the model loaded (same loader and WASM backend
 * as an actor), each running predict back to back with no messaging. `at` measures a window at one batch size
 * (rows/s of all processes together, CPU µs per row); `sweep` one window at each candidate size. A round sweeps
 * before its job and again after it, and `bestAround` keeps the size whose two windows averaged the most rows/s:
 * WASM's rows/s at a size drifts by a fifth from minute to minute on a shared VM, so a ceiling measured on one
 * side of the job carries that drift into the ratio, and the best of single windows carries their luck.
 */
interface Window {
  readonly batch: number
  readonly rowsPerSecond: number
  readonly cpuUsPerRow: number
}

/** The round's ceiling from the sweeps before and after its job: each size's two windows averaged, the best size kept. */
const bestAround = (before: ReadonlyArray<Window>, after: ReadonlyArray<Window>) => {
  const averaged = before.map((b) => {
    const a = after.find((w) => w.batch === b.batch)!
    return {
      batch: b.batch,
      rowsPerSecond: (b.rowsPerSecond + a.rowsPerSecond) / 2,
      cpuUsPerRow: (b.cpuUsPerRow + a.cpuUsPerRow) / 2
    }
  })
  const top = averaged.reduce((x, y) => (y.rowsPerSecond > x.rowsPerSecond ? y : x))
  return { ...top, perBatch: Object.fromEntries(averaged.map((w) => [w.batch, w.rowsPerSecond])) }
}

const inProcessCeiling = async (model: BenchModel) => {
  const workers = Array.from({ length: CORES }, (_, i) =>
    forkHelper("bench/lib/ceilingWorker.ts", `ceiling ${model.name} ${i + 1}`, { BENCH_MODEL: model.name })
  )
  await Promise.all(workers.map((w) => helperReady(w)))
  for (const w of workers) if (BUS_CORES > 0) pinTree(w.child.pid!, MODEL_CORES)
  const rpcs = workers.map((w) => rpcClient(w.child, w.name))
  const at = async (batch: number, seconds: number) => {
    await Promise.all(rpcs.map((rpc) => rpc.call({ type: "warmup", batch, durationMs: 500 }, 120_000)))
    const results = await Promise.all(
      rpcs.map((rpc) =>
        rpc.call<{ perSecond: number; count: number; cpuUs: number }>(
          { type: "run", batch, durationMs: seconds * 1000 },
          120_000
        )
      )
    )
    const rows = results.reduce((n, r) => n + r.count, 0)
    return {
      rowsPerSecond: results.reduce((n, r) => n + r.perSecond, 0),
      cpuUsPerRow: results.reduce((n, r) => n + r.cpuUs, 0) / rows
    }
  }
  const sizes = model.name === "iris" ? [64, 256, 1024, 4096] : [16, 64, 256]
  const sweep = async (seconds: number) => {
    const windows: Array<Window> = []
    for (const batch of sizes) windows.push({ batch, ...(await at(batch, seconds)) })
    return windows
  }
  return { sizes, sweep, stop: () => Promise.all(workers.map((w) => w.stop())) }
}

/** The value that occurs most often (the first of those tied). */
const mostOften = (values: ReadonlyArray<number>): number => {
  const counts = new Map<number, number>()
  for (const v of values) counts.set(v, (counts.get(v) ?? 0) + 1)
  return [...counts].reduce((a, b) => (b[1] > a[1] ? b : a))[0]
}

/** A second supervisor serving the CNN as DEFAULT_HEAP_CNN, its actors started with V8's default heap limits. */
const defaultHeapSupervisor = async (dir: string, server: string) => {
  const config = join(dir, "default-heap.json")
  await writeFile(
    config,
    JSON.stringify({ models: [{ name: DEFAULT_HEAP_CNN, path: CNN_MODEL_DIR, replicas: REPLICAS }] })
  )
  const started = spawnCli(["supervise", "--config", config, "--server", server], "supervisor default heap", {
    MODELBUS_BACKEND: "wasm",
    // a heap size in NODE_OPTIONS: actorFlags.ts leaves V8's defaults (4 GiB is above anything the bench reaches)
    NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ""} --max-old-space-size=4096`.trim()
  })
  if (BUS_CORES > 0) pinTree(started.pid, MODEL_CORES)
  await started.waitForLine(/modelbus ready/, 120_000)
  if (BUS_CORES > 0) pinTree(started.pid, MODEL_CORES)
  return started
}

const main = async () => {
  // the bench and what it starts (nats-server, CLIs) run on the bus's cores; the supervisor's tree is moved
  if (BUS_CORES > 0) pinTree(process.pid, BUS_CORE_LIST)
  await ensureCnnModel(CNN_MODEL_DIR)
  const { startLocalNatsServer } = await dist.natsServer()
  const { connect } = await dist.client()
  const nats = await startLocalNatsServer()
  stopNats = nats.stop
  const dir = await mkdtemp(join(tmpdir(), "modelbus-batch-bench-"))
  const config = join(dir, "modelbus.json")
  await writeFile(
    config,
    JSON.stringify({
      models: [
        { name: "iris", path: IRIS_MODEL_DIR, replicas: REPLICAS },
        { name: "cnn", path: CNN_MODEL_DIR, replicas: REPLICAS }
      ]
    })
  )
  const supervisor = spawnCli(["supervise", "--config", config, "--server", nats.url], "supervisor", {
    MODELBUS_BACKEND: "wasm"
  })
  if (BUS_CORES > 0) pinTree(supervisor.pid, MODEL_CORES)
  await supervisor.waitForLine(/modelbus ready/, 120_000)
  // again once its actors and standbys run: any thread started before the first pin
  if (BUS_CORES > 0) pinTree(supervisor.pid, MODEL_CORES)
  const defaultHeap = HEAP_AB ? await defaultHeapSupervisor(dir, nats.url) : undefined
  const supervisorOf = (name: string) => (name === DEFAULT_HEAP_CNN ? defaultHeap! : supervisor)
  const client = await connect({ servers: nats.url, retry: false, timeoutMs: 10_000, name: "batch-bench" })
  const actorPids = async (model: string) =>
    (await client.status())
      .flatMap((s) => s.actors)
      .filter((a) => a.model === model && a.pid !== null)
      .map((a) => a.pid!)
  for (const m of ["iris", "cnn", ...(HEAP_AB ? [DEFAULT_HEAP_CNN] : [])])
    for (const pid of await actorPids(m)) adopt(pid)
  const cli = (...args: Array<string>) =>
    execFileSync(process.execPath, [CLI, ...args, "--server", nats.url], { encoding: "utf8", stdio: "pipe" })
  const inputFile = async (model: BenchModel, rows: number) => {
    const file = join(dir, `${model.name}-${rows}.npy`)
    await writeFile(
      file,
      encodeNpy({ dtype: "float32", shape: [rows, ...model.sampleShape], data: sampleData(model, rows, 7) })
    )
    return file
  }
  const before = uptime()
  console.log(`uptime before: ${before}`)

  // 1. each model: rounds of (the in-process ceiling on the same cores at its best batch size, a job alone):
  // rows/s of each and CPU per row by process, paired per round; a job's phases from its chunks' events
  const watcher = await natsConnect({ servers: nats.url, name: "batch-bench-phases" })
  const marks = { firstStart: 0, lastResult: 0 }
  watcher.subscribe("modelbus.events.*.batch", {
    callback: () => {
      if (marks.firstStart === 0) marks.firstStart = performance.now()
    }
  })
  watcher.subscribe("modelbus.batch.result.>", {
    callback: () => {
      marks.lastResult = performance.now()
    }
  })
  const runJob = async (name: string, file: string, rows: number) => {
    marks.firstStart = 0
    marks.lastResult = 0
    const actors = await actorPids(name)
    const supervising = supervisorOf(name)
    const cpu0 = { actors: cpuOf(actors), nats: cpuOf([nats.pid]), supervisor: cpuOf([supervising.pid]) }
    const started = performance.now()
    const submitter = spawnCli(["batch", "submit", name, "--input", file, "--server", nats.url], `submit-${name}`)
    let cliCpu = 0
    const poll = setInterval(() => {
      cliCpu = sampleProcess(submitter.pid)?.cpuSeconds ?? cliCpu
    }, 100)
    await new Promise<void>((resolve) => {
      if (submitter.child.exitCode !== null) resolve()
      else submitter.child.once("exit", () => resolve())
    })
    clearInterval(poll)
    const ended = performance.now()
    // the watcher has seen every event published before the CLI's exit once a round trip to the server returns
    await watcher.flush()
    const seconds = (ended - started) / 1000
    const perRowUs = (s: number) => (s * 1e6) / rows
    const rss = actors.map((pid) => sampleProcess(pid)?.rssBytes ?? 0)
    return {
      seconds,
      rowsPerSecond: rows / seconds,
      actorRssMb: rss.reduce((a, b) => a + b, 0) / rss.length / 2 ** 20,
      phases: {
        startS: (marks.firstStart - started) / 1000,
        runRowsPerSecond: (rows * 1000) / (marks.lastResult - marks.firstStart),
        endS: (ended - marks.lastResult) / 1000
      },
      cpuUsPerRow: {
        actors: perRowUs(cpuOf(actors) - cpu0.actors),
        natsServer: perRowUs(cpuOf([nats.pid]) - cpu0.nats),
        supervisor: perRowUs(cpuOf([supervising.pid]) - cpu0.supervisor),
        submittingCli: perRowUs(cliCpu)
      }
    }
  }
  const jobs: Record<string, JobFigure> = {}
  for (const [name, rows] of [
    ["iris", IRIS_ROWS],
    ["cnn", CNN_ROWS]
  ] as const) {
    const model = modelNamed(name)
    const served = name === "cnn" && HEAP_AB ? [name, DEFAULT_HEAP_CNN] : [name]
    const file = await inputFile(model, rows)
    const ceiling = await inProcessCeiling(model)
    type Round = { ceiling: ReturnType<typeof bestAround>; job: Awaited<ReturnType<typeof runJob>> }
    const roundsOf = new Map<string, Array<Round>>(served.map((s) => [s, []]))
    const byBatch = (windows: ReadonlyArray<Window>) =>
      JSON.stringify(Object.fromEntries(windows.map((w) => [w.batch, round(w.rowsPerSecond, 0)])))
    for (let r = 0; r < JOB_ROUNDS; r++) {
      const before = await ceiling.sweep(CEILING_SECONDS)
      // the variants' order turns round by round
      const ran: Array<[string, Awaited<ReturnType<typeof runJob>>]> = []
      for (const variant of r % 2 === 0 ? served : [...served].reverse())
        ran.push([variant, await runJob(variant, file, rows)])
      const after = await ceiling.sweep(CEILING_SECONDS)
      const inProcess = bestAround(before, after)
      console.log(
        `${name} round ${r + 1}: in-process rows/s on ${CORES} cores by batch size, before the job ${byBatch(before)}, after it ${byBatch(after)}`
      )
      for (const [variant, job] of ran) {
        roundsOf.get(variant)!.push({ ceiling: inProcess, job })
        console.log(
          `${variant} round ${r + 1}: job ${round(job.rowsPerSecond, 0)} rows/s in ${round(job.seconds, 2)} s, in-process ${round(inProcess.rowsPerSecond, 0)} rows/s (batch ${inProcess.batch}, ${CORES} processes): ${round(job.rowsPerSecond / inProcess.rowsPerSecond, 3)}; phases: first chunk at ${round(job.phases.startS, 2)} s, ${round(job.phases.runRowsPerSecond, 0)} rows/s, exit ${round(job.phases.endS, 2)} s after the last result; CPU µs/row ${JSON.stringify(Object.fromEntries(Object.entries(job.cpuUsPerRow).map(([k, v]) => [k, round(v, 1)])))}, in-process ${round(inProcess.cpuUsPerRow, 1)}; actor RSS ${round(job.actorRssMb, 1)} MB`
        )
      }
    }
    await ceiling.stop()
    for (const [variant, rounds] of roundsOf) {
      const med = (f: (x: Round) => number) => round(spreadOf(rounds.map(f)).median, 1)
      jobs[variant] = {
        rows,
        rounds: JOB_ROUNDS,
        seconds: round(spreadOf(rounds.map((x) => x.job.seconds)).median, 2),
        rowsPerSecond: round(spreadOf(rounds.map((x) => x.job.rowsPerSecond)).median, 0),
        ceiling: {
          perBatch: Object.fromEntries(
            ceiling.sizes.map((b) => [b, round(spreadOf(rounds.map((x) => x.ceiling.perBatch[b]!)).median, 0)])
          ),
          bestBatch: mostOften(rounds.map((x) => x.ceiling.batch)),
          processes: CORES,
          rowsPerSecond: round(spreadOf(rounds.map((x) => x.ceiling.rowsPerSecond)).median, 0),
          cpuUsPerRow: med((x) => x.ceiling.cpuUsPerRow)
        },
        ofCeiling: spreadOf(
          pairedRatios(
            rounds.map((x) => x.job.rowsPerSecond),
            rounds.map((x) => x.ceiling.rowsPerSecond)
          )
        ),
        cpuUsPerRow: {
          actors: med((x) => x.job.cpuUsPerRow.actors),
          natsServer: med((x) => x.job.cpuUsPerRow.natsServer),
          supervisor: med((x) => x.job.cpuUsPerRow.supervisor),
          submittingCli: med((x) => x.job.cpuUsPerRow.submittingCli)
        },
        phases: {
          startS: round(spreadOf(rounds.map((x) => x.job.phases.startS)).median, 2),
          runRowsPerSecond: round(spreadOf(rounds.map((x) => x.job.phases.runRowsPerSecond)).median, 0),
          runOfCeiling: spreadOf(
            pairedRatios(
              rounds.map((x) => x.job.phases.runRowsPerSecond),
              rounds.map((x) => x.ceiling.rowsPerSecond)
            )
          ),
          endS: round(spreadOf(rounds.map((x) => x.job.phases.endS)).median, 2)
        },
        actorRssMb: med((x) => x.job.actorRssMb),
        perRound: rounds
      }
    }
  }

  // 2. online p50/p99 at c=16 on Iris, alone and while a job runs (interleaved rounds); not with the bus apart
  const onlineBesideJob = async () => {
    const onlineFile = await inputFile(modelNamed("iris"), ONLINE_JOB_ROWS)
    const Variant = { alone: "online only", job: "online + batch job" } as const
    type Variant = (typeof Variant)[keyof typeof Variant]
    const row = [[5.1, 3.5, 1.4, 0.2]]
    const measure = async (v: Variant) => {
      let job: string | undefined
      if (v === Variant.job) {
        job = (
          JSON.parse(cli("batch", "submit", "iris", "--input", onlineFile, "--detach", "--json")) as { job: string }
        ).job
      }
      const summary = await closedLoop(() => client.infer("iris", row), {
        concurrency: CONCURRENCY,
        warmupMs: 1_000,
        durationMs: SECONDS * 1000,
        maxRequests: 10_000_000
      })
      let jobRows = 0
      if (job !== undefined) {
        jobRows = (JSON.parse(cli("batch", "status", job, "--json")) as { done: number }).done
        cli("batch", "cancel", job)
      }
      return {
        p50Ms: round(summary.p50Ms, 3),
        p99Ms: round(summary.p99Ms, 3),
        perSecond: round(summary.perSecond, 0),
        errors: summary.errors,
        jobRowsDuringWindow: jobRows
      }
    }
    const variants = [Variant.alone, Variant.job] as const
    await measure(Variant.alone)
    const figures = await interleave(variants, ROUNDS, measure, (v, r, f) =>
      console.log(
        `round ${r + 1} ${v.padEnd(20)} p50 ${f.p50Ms} ms  p99 ${f.p99Ms} ms  ${f.perSecond} req/s  job rows ${f.jobRowsDuringWindow}`
      )
    )
    const of = (v: Variant, key: "p50Ms" | "p99Ms" | "perSecond" | "jobRowsDuringWindow") =>
      figures[v].map((f) => f[key])
    const med = (v: Variant, key: "p50Ms" | "p99Ms" | "perSecond" | "jobRowsDuringWindow") =>
      round(spreadOf(of(v, key)).median, 3)
    const p99Ratio = spreadOf(pairedRatios(of(Variant.job, "p99Ms"), of(Variant.alone, "p99Ms")))
    console.log(
      `p99 with a job ÷ without, per round: median ${p99Ratio.median.toFixed(3)} (${p99Ratio.min.toFixed(3)}–${p99Ratio.max.toFixed(3)})`
    )
    const lines = [
      "",
      `Online infer on Iris at c = ${CONCURRENCY}, ${SECONDS} s windows after 1 s of warm-up, alone and while a ${ONLINE_JOB_ROWS.toLocaleString("en")}-row Iris job runs (submitted before the window, cancelled after it), ${ROUNDS} interleaved rounds, medians:`,
      "",
      "| setup | p50 ms | p99 ms | req/s | job rows done in the window |",
      "| --- | --- | --- | --- | --- |",
      `| ${Variant.alone} | ${med(Variant.alone, "p50Ms")} | **${med(Variant.alone, "p99Ms")}** | ${med(Variant.alone, "perSecond")} | – |`,
      `| ${Variant.job} | ${med(Variant.job, "p50Ms")} | **${med(Variant.job, "p99Ms")}** | ${med(Variant.job, "perSecond")} | ${med(Variant.job, "jobRowsDuringWindow")} |`,
      "",
      `- **p99 with the job ÷ without**, paired per round: median **${p99Ratio.median.toFixed(3)}** (${p99Ratio.min.toFixed(3)}–${p99Ratio.max.toFixed(3)}); target ≤ 1.5: **${p99Ratio.median <= 1.5 ? "met" : "missed"}**. Replicas pull a chunk, and run each of its model calls, only once they have held no online request for 2 ms (and calls only in idle turns of the model loop), and after a chunk that ran beside online requests rest three times its calls' time before the next (batchShare.ts), so under a closed loop of ${CONCURRENCY} callers the job advances in the gaps.`
    ]
    return { figures, p99Ratio, lines }
  }
  const online = BUS_CORES > 0 ? undefined : await onlineBesideJob()
  const after = uptime()
  console.log(`uptime after: ${after}`)
  const report = {
    date: new Date().toISOString(),
    machine: { cores: cpus().length, cpu: cpus()[0]?.model, node: process.version },
    rounds: ROUNDS,
    seconds: SECONDS,
    replicas: REPLICAS,
    uptime: { before, after },
    jobs,
    busCores: BUS_CORES,
    online: online?.figures,
    p99JobOverAlone: online?.p99Ratio
  }
  await mkdir(RESULTS_DIR, { recursive: true })
  const file = join(
    RESULTS_DIR,
    `batch-jobs${BUS_CORES > 0 ? "-bus-apart" : ""}-${report.date.replace(/:/g, "-").replace(/\.\d+Z$/, "Z")}.json`
  )
  await writeFile(file, `${JSON.stringify(report, null, 2)}\n`)
  console.log(`wrote ${file}`)
  const jobLine = (name: string) => {
    const j = jobs[name]!
    const label = name === DEFAULT_HEAP_CNN ? "cnn, actors with V8's default heap limits" : name
    return `| ${label} | ${j.rows} | ${j.seconds} | **${j.rowsPerSecond}** | ${j.ceiling.rowsPerSecond} (best of batch ${Object.keys(j.ceiling.perBatch).join(", ")} each round, before and after its job averaged; most often ${j.ceiling.bestBatch}; ${j.ceiling.processes} process${j.ceiling.processes === 1 ? "" : "es"}) | **${j.ofCeiling.median.toFixed(3)}** (${j.ofCeiling.min.toFixed(3)}–${j.ofCeiling.max.toFixed(3)}) | ${j.cpuUsPerRow.actors} | ${j.ceiling.cpuUsPerRow} | ${j.cpuUsPerRow.natsServer} | ${j.cpuUsPerRow.submittingCli} | ${j.cpuUsPerRow.supervisor} | ${j.actorRssMb} |`
  }
  const phaseLine = (name: string) => {
    const { phases: p } = jobs[name]!
    return `- ${name}: the first chunk started ${p.startS} s after the CLI did (Node.js starting, connecting, the model described, the file's header checked); chunks then ran at ${p.runRowsPerSecond} rows/s, **${p.runOfCeiling.median.toFixed(3)}** (${p.runOfCeiling.min.toFixed(3)}–${p.runOfCeiling.max.toFixed(3)}) of the in-process rows/s, paired; the CLI exited ${p.endS} s after the last result was stored.`
  }
  const cnn = jobs.cnn!
  const cnnRatio = cnn.ofCeiling.median
  const allCpu =
    cnn.cpuUsPerRow.actors + cnn.cpuUsPerRow.natsServer + cnn.cpuUsPerRow.submittingCli + cnn.cpuUsPerRow.supervisor
  const heapLine = () => {
    const rowsPerSecond = (name: string) => jobs[name]!.perRound.map((x) => x.job.rowsPerSecond)
    const ratio = spreadOf(pairedRatios(rowsPerSecond("cnn"), rowsPerSecond(DEFAULT_HEAP_CNN)))
    return `- CNN rows/s with actors' first heap limit at 128 MB ÷ with V8's default, paired per round (order alternating): median **${ratio.median.toFixed(3)}** (${ratio.min.toFixed(3)}–${ratio.max.toFixed(3)}).`
  }
  const command = `npx tsx bench/batchJobs.ts --rounds=${ROUNDS} --job-rounds=${JOB_ROUNDS} --seconds=${SECONDS} --replicas=${REPLICAS} --iris-rows=${IRIS_ROWS} --cnn-rows=${CNN_ROWS}${HEAP_AB ? " --heap-ab=1" : ""}${BUS_CORES > 0 ? ` --bus-cores=${BUS_CORES}` : ` --online-job-rows=${ONLINE_JOB_ROWS}`}`
  const setup = `One supervisor serving Iris and the CNN, ${REPLICAS} replica${REPLICAS === 1 ? "" : "s"} each; \`modelbus batch submit\` from a .npy file (default chunk size: ${defaultChunkRows(3136, 1024 * 1024)} CNN rows, 1,024 Iris rows), timed from the CLI's start to its exit (streams, chunks, the run and following it). The in-process ceiling runs on the same cores: ${CORES} process${CORES === 1 ? "" : "es"} (one per core the replicas can use), each with the model loaded as an actor loads it and calling \`predict\` back to back; each round measures a window of ${CEILING_SECONDS} s at every candidate batch size before its job and again after it, and takes the size whose two windows averaged the most rows/s of all processes together (the machine's speed drifts by a fifth within a minute: windows on both sides of the job pair it with the speed it ran at, and averaging two windows keeps the best size from being one window's luck). ${JOB_ROUNDS} rounds per model, each the in-process windows, a job, the in-process windows again; medians, and the job's rows/s ÷ the in-process rows/s paired per round (min–max).`
  const header =
    BUS_CORES > 0
      ? [
          "## Batch jobs with the bus on a core of its own: rows/s against the in-process ceiling on the replicas' cores",
          "",
          `Run by \`${command}\` on ${report.date} (Node.js ${process.version}, ${report.machine.cores} cores, WASM). Core${MODEL_CORES.length === 1 ? "" : "s"} ${MODEL_CORES.join(", ")} run${MODEL_CORES.length === 1 ? "s" : ""} the supervisor, its replicas and standby, and the in-process ceiling; core${BUS_CORE_LIST.length === 1 ? "" : "s"} ${BUS_CORE_LIST.join(", ")} the bus: nats-server, the submitting CLI and this bench (\`taskset\`, every thread). This is how a deployment runs, with NATS on machines of its own; with every core shared, see "Batch jobs: rows/s against the in-process ceiling" above. ${setup}`
        ]
      : [
          "## Batch jobs: rows/s against the in-process ceiling, and online latency beside a job",
          "",
          `Run by \`${command}\` on ${report.date} (Node.js ${process.version}, ${report.machine.cores} cores, WASM). Every process shares every core. ${setup}`
        ]
  const goal =
    BUS_CORES > 0
      ? `- Goal for the CNN: ≥ 0.9 of the in-process ceiling on the same cores: **${cnnRatio >= 0.9 ? "met" : "missed"}** (${cnnRatio.toFixed(3)}). The replica's core spends ${cnn.cpuUsPerRow.actors} µs of CPU per row (its process, every thread) where the in-process loop spends ${cnn.ceiling.cpuUsPerRow}; nats-server (${cnn.cpuUsPerRow.natsServer} µs/row) and the CLI (${cnn.cpuUsPerRow.submittingCli} µs/row) run on the bus's core.`
      : `- Goal for the CNN: ≥ 0.9 of the in-process ceiling on the same cores: **${cnnRatio >= 0.9 ? "met" : "missed"}** (${cnnRatio.toFixed(3)}). The CNN's actors spend ${cnn.cpuUsPerRow.actors} µs of CPU per row where the in-process loop spends ${cnn.ceiling.cpuUsPerRow}; on the same ${CORES} cores nats-server and the submitting CLI (storing, delivering and reading back ${CNN_ROWS.toLocaleString("en")} rows of 3 KiB) take ${round(cnn.cpuUsPerRow.natsServer + cnn.cpuUsPerRow.submittingCli, 1)} µs more: ${round(allCpu, 1)} µs of CPU per row in all against ${cnn.ceiling.cpuUsPerRow}, which bounds the ratio near ${round(cnn.ceiling.cpuUsPerRow / allCpu, 2)} when the bus shares the model's cores.`
  const section = [
    ...header,
    "",
    `- \`uptime\` before: \`${before}\``,
    `- \`uptime\` after: \`${after}\``,
    "",
    "| model | rows | s | rows/s | in-process rows/s, same cores | job ÷ in-process | actors CPU µs/row | in-process CPU µs/row | nats-server µs/row | CLI µs/row | supervisor µs/row | actor RSS after, MB |",
    "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    jobLine("iris"),
    jobLine("cnn"),
    ...(jobs[DEFAULT_HEAP_CNN] === undefined ? [] : [jobLine(DEFAULT_HEAP_CNN), "", heapLine()]),
    "",
    goal,
    "- Where a job's time goes, medians of the rounds (from the replicas' chunk-started events and the results stream, watched by the bench):",
    ...["iris", "cnn"].map((name) => `  ${phaseLine(name)}`),
    `- What an actor spends beside the model's calls, CNN: receiving a 0.9 MB chunk through the NATS client (64 KiB socket reads, the parser's buffer growing to hold the message), publishing the result, and the garbage those buffers leave. Actors start with a first old-generation limit of 128 MB (\`--initial-heap-size\`, supervisor/runtime/actorFlags.ts): with V8's default limit, so close to an actor's live heap of about 20 MB, a 100,000-row CNN job ran about 100 full mark-compacts (\`--trace-gc\`), 35–45 µs/row of V8 marking threads on the replica's core; with 128 MB the buffers die in young-generation scavenges (the A/B rows, \`--heap-ab=1\`), and the major collections left, 7 to 11 per 120,000 rows in \`perf_hooks\` gc entries, are the ones V8 starts for the chunks' external memory (\`--external-memory-accounted-in-global-limit\` took them to one or two, and the actor's RSS from about 220 to 330 MB, with no gain in rows/s that stood out of the machine's drift: left off). The price is memory: garbage that does reach the old generation stays until it nears the limit, so an actor's RSS creeps up to that bound (the RSS column); NODE_OPTIONS with a heap size of the user's own replaces the flag. While it runs a chunk a replica holds up to two more pulled ahead and stores up to three results, so its model does not wait on the bus between chunks, even while nats-server is busy storing the rest of the job; \`batch submit\` reads a .npy file a chunk at a time as it publishes, so the first chunk runs while the rest is read.`,
    ...(online?.lines ?? [])
  ].join("\n")
  console.log(`wrote ${await writeSection(BUS_CORES > 0 ? "batch-jobs-bus-apart" : "batch-jobs", section)}`)
  await watcher.close()
  await client.close()
  await stopAll()
  await nats.stop()
}

main().catch(async (error) => {
  console.error(error)
  await stopAll()
  process.exit(1)
})
