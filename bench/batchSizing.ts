// Batches sized by measurement: per model, the in-process samples/s at each batch size (its best
// is the ceiling) against modelbus, 2 replicas at c=64, with maxBatchSize fixed at 32 and with `auto`, interleaved.
//   npm run build && npx tsx bench/batchSizing.ts [--rounds=6] [--window-ms=2000] [--ceiling-ms=400] [--models=cnn,iris]
//   npx tsx bench/batchSizing.ts --from=bench/results/batch-sizing-….json   (rewrites the section from recorded figures)
import { mkdtemp, readFile, writeFile } from "node:fs/promises"
import { loadavg, tmpdir } from "node:os"
import { join, resolve } from "node:path"
import { connect } from "@nats-io/transport-node"
import { helperReady } from "./lib/bench.js"
import { forkHelper, killAllNow, type Started, spawnCli, stopAll } from "./lib/children.js"
import { ensureCnnModel } from "./lib/cnnModel.js"
import { interleave, pairedRatios, type Spread, spreadOf } from "./lib/interleave.js"
import { closedLoop } from "./lib/loadgen.js"
import { describeMachine } from "./lib/machine.js"
import { type BenchModel, modelNamed, tensorInput } from "./lib/models.js"
import { MuxedClient } from "./lib/muxedClient.js"
import { CNN_MODEL_DIR, dist, ROOT } from "./lib/paths.js"
import { processWindow, type WindowResult } from "./lib/procStats.js"
import { writeResultJson } from "./lib/report.js"
import { rpcClient } from "./lib/rpc.js"
import { writeSection } from "./lib/sections.js"

const option = (name: string) => process.argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3)
const ROUNDS = Number(option("rounds") ?? 6)
const WINDOW_MS = Number(option("window-ms") ?? 2_000)
const CEILING_MS = Number(option("ceiling-ms") ?? 400)
const MODELS = (option("models") ?? "cnn,iris").split(",").map(modelNamed)
const CONCURRENCY = 64
const REPLICAS = 2
const SIZES = [1, 2, 4, 8, 16, 32, 64, 128, 256]
const TARGET = 0.9

type Variant = "ceiling" | "fixed" | "adaptive"
const VARIANTS: ReadonlyArray<Variant> = ["ceiling", "fixed", "adaptive"]
const LABELS: Record<Variant, string> = {
  ceiling: `in-process, ${REPLICAS} processes, best batch size of the round`,
  fixed: `modelbus, ${REPLICAS} replicas, c=${CONCURRENCY}, maxBatchSize 32 (fixed)`,
  adaptive: `modelbus, ${REPLICAS} replicas, c=${CONCURRENCY}, maxBatchSize auto (measured)`
}

process.on("exit", () => killAllNow())
let stopNats: () => Promise<void> = async () => {}
for (const signal of ["SIGINT", "SIGTERM"] as const)
  process.once(signal, () => void Promise.all([stopAll(), stopNats()]).finally(() => process.exit(130)))

interface Figure {
  /** Samples per second: the best batch size's for the ceiling, requests (one sample each) for modelbus. */
  readonly samplesPerSecond: number
  /** The ceiling's samples/s at each batch size this round. */
  readonly bySize?: Readonly<Record<number, number>>
  /** The ceiling's CPU µs per sample at each batch size this round (the workers' own CPU clocks). */
  readonly cpuBySize?: Readonly<Record<number, number>>
  readonly bestSize?: number
  readonly p50Ms?: number
  readonly errors?: number
  /** modelbus: CPU µs per sample in the window: the actors, the client (this process), nats-server, everything else. */
  readonly cpuUsPerSample?: CpuPerSample
  /** The 1-minute load average when the figure was taken. */
  readonly load: number
}

interface CpuPerSample {
  readonly model: number
  readonly client: number
  readonly nats: number
  readonly other: number
}

/** A window's CPU per sample by role (`model-*` roles add up); the client's CPU is given apart. */
const cpuPerSample = (window: WindowResult, clientCpuUs: number, samples: number): CpuPerSample => {
  const of = (prefix: string) =>
    window.processes.filter((p) => p.role.startsWith(prefix)).reduce((n, p) => n + p.cpuSeconds, 0) * 1e6
  return {
    model: of("model") / samples,
    client: clientCpuUs / samples,
    nats: of("nats") / samples,
    other: (window.backgroundCpuSeconds * 1e6) / samples
  }
}

/** CPU µs of this process (the bench, which is the load's client) so far. */
const ownCpuUs = () => {
  const { user, system } = process.cpuUsage()
  return user + system
}

interface ModelResult {
  readonly model: string
  readonly label: string
  /** What each adaptive replica chose, as status reports it. */
  readonly adaptiveLimits: ReadonlyArray<{
    readonly actor: string
    readonly maxBatchSize: number | undefined
    readonly source: string | undefined
  }>
  /** Requests per model call over the whole run (status: served / calls). */
  readonly requestsPerCall: Readonly<Record<"fixed" | "adaptive", number>>
  readonly figures: Record<Variant, Array<Figure>>
  readonly sizeMedians: Readonly<Record<number, number>>
  /** In-process CPU µs per sample at each batch size, median of rounds. */
  readonly sizeCpuMedians: Readonly<Record<number, number>>
  readonly ratios: {
    readonly adaptiveVsCeiling: Spread
    readonly fixedVsCeiling: Spread
    readonly adaptiveVsFixed: Spread
    /** The best size's in-process CPU per sample ÷ auto's (actors + client + nats-server): the share of the ceiling it would reach with the machine to itself. */
    readonly adaptiveVsCeilingPerCpu: Spread
  }
}

/** CPU µs modelbus spends per sample: its actors, the client and nats-server. */
const modelbusCpu = (f: Figure) =>
  f.cpuUsPerSample === undefined ? Number.NaN : f.cpuUsPerSample.model + f.cpuUsPerSample.client + f.cpuUsPerSample.nats

const benchModel = async (model: BenchModel, natsUrl: string, natsPid: number, dir: string): Promise<ModelResult> => {
  const { connect: connectClient } = await dist.client()
  const { encodeRequest } = await dist.codec()
  const prefixOf = (v: "fixed" | "adaptive") => `bs${v}${model.name}`
  const clients: Array<{ close: () => Promise<void> }> = []
  const started: Array<Started> = []
  for (const v of ["fixed", "adaptive"] as const) {
    const file = join(dir, `${prefixOf(v)}.json`)
    const entry = {
      name: model.name,
      path: model.dir,
      replicas: REPLICAS,
      heartbeatMs: 200,
      ...(v === "fixed" ? { batching: { maxBatchSize: 32 } } : {})
    }
    await writeFile(file, JSON.stringify({ prefix: prefixOf(v), registry: { mode: "off" }, models: [entry] }))
    const s = spawnCli(["supervise", "--config", file, "--server", natsUrl], `${v} ${model.name}`, {
      MODELBUS_BACKEND: "wasm"
    })
    started.push(s)
    await s.waitForLine(/modelbus ready/, 120_000)
  }
  const statusClient = async (v: "fixed" | "adaptive") => {
    const c = await connectClient({ servers: natsUrl, prefix: prefixOf(v) })
    clients.push(c)
    return c
  }
  const fixedStatus = await statusClient("fixed")
  const adaptiveStatus = await statusClient("adaptive")
  // the replicas only: a warm standby (state "standby", no model) serves nothing and has no batch limit
  const actorsOf = async (c: Awaited<ReturnType<typeof statusClient>>) =>
    (await c.status()).flatMap((s) => s.actors).filter((a) => a.state !== "standby")
  // the adaptive replicas measure right after they are ready: wait for their decision
  const deadline = Date.now() + 60_000
  let limits = await actorsOf(adaptiveStatus)
  while (!limits.every((a) => a.batching !== undefined && a.batching.source !== "probing") && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 200))
    limits = await actorsOf(adaptiveStatus)
  }
  const adaptiveLimits = limits.map((a) => ({
    actor: a.id,
    maxBatchSize: a.batching?.maxBatchSize,
    source: a.batching?.source
  }))
  console.log(`${model.name}: adaptive limits ${JSON.stringify(adaptiveLimits)}`)

  const workers = Array.from({ length: REPLICAS }, (_, i) =>
    forkHelper("bench/lib/ceilingWorker.ts", `ceiling ${model.name} ${i + 1}`, { BENCH_MODEL: model.name })
  )
  await Promise.all(workers.map((w) => helperReady(w)))
  const rpcs = workers.map((w) => rpcClient(w.child, w.name))

  const nc = await connect({ servers: natsUrl })
  const client = new MuxedClient(nc, 30_000)
  const bodies = Array.from({ length: 16 }, (_, i) => encodeRequest(tensorInput(model, 1, i + 1), undefined, "msgpack"))
  const actorPids = {
    fixed: (await actorsOf(fixedStatus)).flatMap((a) => (a.pid === null ? [] : [a.pid])),
    adaptive: limits.flatMap((a) => (a.pid === null ? [] : [a.pid]))
  }
  const modelbus = async (v: "fixed" | "adaptive", durationMs: number): Promise<Figure> => {
    const subject = `${prefixOf(v)}.infer.${model.name}`
    // the client is this process: counted apart (its own CPU clock), so not among the others
    const window = processWindow([
      ...actorPids[v].map((pid, i) => ({ role: `model-${i + 1}`, pid })),
      { role: "nats", pid: natsPid },
      { role: "client", pid: process.pid }
    ])
    let clientBefore = 0
    let clientCpuUs = 0
    let cpu: WindowResult | undefined
    const summary = await closedLoop(
      async (i) => {
        const reply = await client.request(subject, bodies[i % bodies.length]!)
        const code = reply.headers?.get("Nats-Service-Error-Code")
        if (code !== undefined && code !== "") throw new Error(`error ${code}`)
      },
      { concurrency: CONCURRENCY, warmupMs: 300, durationMs, maxRequests: 10_000_000 },
      {
        onWindow: (edge) => {
          if (edge === "start") {
            window.start()
            clientBefore = ownCpuUs()
          } else {
            cpu = window.end()
            clientCpuUs = ownCpuUs() - clientBefore
          }
        }
      }
    )
    const others = { ...cpu!, processes: cpu!.processes.filter((p) => p.role !== "client") }
    return {
      samplesPerSecond: summary.perSecond,
      p50Ms: summary.p50Ms,
      errors: summary.errors,
      cpuUsPerSample: cpuPerSample(others, clientCpuUs, summary.count),
      load: loadavg()[0]!
    }
  }
  const ceiling = async (): Promise<Figure> => {
    const bySize: Record<number, number> = {}
    const cpuBySize: Record<number, number> = {}
    for (const batch of SIZES) {
      await Promise.all(rpcs.map((rpc) => rpc.call({ type: "warmup", batch, durationMs: 100 }, 120_000)))
      const results = await Promise.all(
        rpcs.map((rpc) =>
          rpc.call<{ perSecond: number; count: number; cpuUs: number }>(
            { type: "run", batch, durationMs: CEILING_MS },
            120_000
          )
        )
      )
      bySize[batch] = results.reduce((n, r) => n + r.perSecond, 0)
      cpuBySize[batch] = results.reduce((n, r) => n + r.cpuUs, 0) / results.reduce((n, r) => n + r.count, 0)
    }
    const bestSize = SIZES.reduce((best, s) => (bySize[s]! > bySize[best]! ? s : best), SIZES[0]!)
    return { samplesPerSecond: bySize[bestSize]!, bySize, cpuBySize, bestSize, load: loadavg()[0]! }
  }
  // warm every path once (JIT, connections, the actors' first batches)
  await modelbus("fixed", 500)
  await modelbus("adaptive", 500)

  const figures = await interleave<Variant, Figure>(
    VARIANTS,
    ROUNDS,
    (v) => (v === "ceiling" ? ceiling() : modelbus(v, WINDOW_MS)),
    (v, round, f) =>
      console.log(
        `${model.name} round ${round + 1} ${v.padEnd(8)} ${f.samplesPerSecond.toFixed(0).padStart(7)} samples/s` +
          (f.bestSize === undefined
            ? `  p50 ${f.p50Ms?.toFixed(2)} ms  errors ${f.errors}`
            : `  best at batch ${f.bestSize}`) +
          (f.cpuUsPerSample === undefined
            ? ""
            : `  CPU µs/sample: actors ${f.cpuUsPerSample.model.toFixed(0)}, client ${f.cpuUsPerSample.client.toFixed(0)}, nats ${f.cpuUsPerSample.nats.toFixed(0)}, other ${f.cpuUsPerSample.other.toFixed(0)}`) +
          `  (load ${f.load.toFixed(1)})`
      )
  )
  const perCall = async (c: Awaited<ReturnType<typeof statusClient>>) => {
    const actors = await actorsOf(c)
    return (
      actors.reduce((n, a) => n + a.served, 0) /
      Math.max(
        1,
        actors.reduce((n, a) => n + (a.calls ?? 0), 0)
      )
    )
  }
  const requestsPerCall = { fixed: await perCall(fixedStatus), adaptive: await perCall(adaptiveStatus) }

  client.close()
  await nc.close()
  for (const c of clients) await c.close()
  await Promise.all([...workers, ...started].map((p) => p.stop()))

  const series = (v: Variant) => figures[v].map((f) => f.samplesPerSecond)
  return {
    model: model.name,
    label: model.label,
    adaptiveLimits,
    requestsPerCall,
    figures,
    sizeMedians: Object.fromEntries(SIZES.map((s) => [s, spreadOf(figures.ceiling.map((f) => f.bySize![s]!)).median])),
    sizeCpuMedians: Object.fromEntries(
      SIZES.map((s) => [s, spreadOf(figures.ceiling.map((f) => f.cpuBySize![s]!)).median])
    ),
    ratios: {
      adaptiveVsCeiling: spreadOf(pairedRatios(series("adaptive"), series("ceiling"))),
      fixedVsCeiling: spreadOf(pairedRatios(series("fixed"), series("ceiling"))),
      adaptiveVsFixed: spreadOf(pairedRatios(series("adaptive"), series("fixed"))),
      adaptiveVsCeilingPerCpu: spreadOf(
        pairedRatios(
          figures.ceiling.map((f) => f.cpuBySize![f.bestSize!]!),
          figures.adaptive.map(modelbusCpu)
        )
      )
    }
  }
}

const f0 = (x: number) => Math.round(x).toLocaleString("en-US")
const range = (s: Spread, d = 2) => `${s.median.toFixed(d)} (${s.min.toFixed(d)}–${s.max.toFixed(d)})`
const spreadText = (xs: ReadonlyArray<number>) => {
  const s = spreadOf(xs)
  return `${f0(s.median)} (${f0(s.min)}–${f0(s.max)})`
}

/** The limits the replicas chose (runs recorded before standbys were left out listed them too, without a limit). */
const chosen = (r: ModelResult) => r.adaptiveLimits.filter((l) => l.maxBatchSize !== undefined)

interface Recorded {
  readonly machine: ReturnType<typeof describeMachine>
  readonly rounds: number
  readonly windowMs: number
  readonly ceilingMs: number
  readonly concurrency: number
  readonly replicas: number
  readonly results: ReadonlyArray<ModelResult>
}

const sectionOf = (
  { machine, rounds: ROUNDS, windowMs: WINDOW_MS, ceilingMs: CEILING_MS, results }: Recorded,
  json: string
) =>
  [
    "## Batches sized by measurement",
    "",
    `Run by \`npx tsx bench/batchSizing.ts\` on ${machine.date} (Node.js ${machine.node}); raw figures in \`${json.replace(`${ROOT}/`, "")}\`.`,
    `Per model, ${ROUNDS} interleaved rounds (rotating order) of: the in-process ceiling (${REPLICAS} worker processes running predict back to back, ${CEILING_MS} ms at each batch size ${SIZES.join(", ")}; the round's best size counts), and modelbus with ${REPLICAS} replicas (WASM) under one supervisor each, ${WINDOW_MS / 1000} s at c=${CONCURRENCY} from a muxed-inbox client sending one sample per request, with \`maxBatchSize: 32\` and with \`maxBatchSize: auto\`. Ratios are taken within a round; median (min–max) of the rounds. The machine is a shared 2-core host with other work running: absolute figures drift, the paired ratios less so.`,
    "",
    "| model | in-process samples/s by batch size (median of rounds) | in-process CPU µs per sample by batch size | adaptive limits chosen | requests per model call: fixed · auto |",
    "| --- | --- | --- | --- | --- |",
    ...results.map(
      (r) =>
        `| ${r.model} | ${SIZES.map((s) => `${s}: ${f0(r.sizeMedians[s]!)}`).join(", ")} | ${SIZES.map((s) => `${s}: ${r.sizeCpuMedians[s]!.toFixed(1)}`).join(", ")} | ${chosen(
          r
        )
          .map((l) => `${l.maxBatchSize} (${l.source})`)
          .join(", ")} | ${r.requestsPerCall.fixed.toFixed(1)} · ${r.requestsPerCall.adaptive.toFixed(1)} |`
    ),
    "",
    "| model | variant | samples/s, median (min–max) of rounds | CPU µs per sample (medians): actors · client · nats-server · other programs |",
    "| --- | --- | --- | --- |",
    ...results.flatMap((r) =>
      VARIANTS.map((v) => {
        const cpu = (k: keyof CpuPerSample) =>
          spreadOf(r.figures[v].map((f) => f.cpuUsPerSample?.[k] ?? Number.NaN)).median.toFixed(0)
        const perSample =
          v === "ceiling" ? "–" : `${cpu("model")} · ${cpu("client")} · ${cpu("nats")} · ${cpu("other")}`
        return `| ${r.model} | ${LABELS[v]} | ${spreadText(r.figures[v].map((f) => f.samplesPerSecond))} | ${perSample} |`
      })
    ),
    "",
    `| model | auto ÷ best in-process | fixed 32 ÷ best in-process | auto ÷ fixed 32 | target: auto ≥ ${TARGET}× best in-process | per CPU: best in-process CPU/sample ÷ auto's (actors + client + nats) |`,
    "| --- | --- | --- | --- | --- | --- |",
    ...results.map(
      (r) =>
        `| ${r.model} | ${range(r.ratios.adaptiveVsCeiling, 3)} | ${range(r.ratios.fixedVsCeiling, 3)} | ${range(r.ratios.adaptiveVsFixed)} | ${r.model === "cnn" ? (r.ratios.adaptiveVsCeiling.median >= TARGET ? "met" : "missed") : "(set for the conv model)"} | ${range(r.ratios.adaptiveVsCeilingPerCpu, 3)} |`
    ),
    "",
    ...results.map(reading)
  ].join("\n")

/** What a model's figures say, in words computed from them (so a re-run cannot leave a stale claim behind). */
const reading = (r: ModelResult): string => {
  const cpu = (k: keyof CpuPerSample) =>
    spreadOf(r.figures.adaptive.map((f) => f.cpuUsPerSample?.[k] ?? Number.NaN)).median
  const best = spreadOf(r.figures.ceiling.map((f) => f.cpuBySize![f.bestSize!]!)).median
  const limits = [...new Set(chosen(r).map((l) => l.maxBatchSize))].join(" and ")
  return (
    `- ${r.model}: auto chose ${limits}; at c=${CONCURRENCY} over ${REPLICAS} replicas a model call took ${r.requestsPerCall.fixed.toFixed(1)} requests on average with the fixed limit and ${r.requestsPerCall.adaptive.toFixed(1)} with auto, so the limit binds only when one replica's queue runs past it. ` +
    `modelbus spends ${f0(cpu("model") + cpu("client") + cpu("nats"))} µs of CPU per sample (actors ${f0(cpu("model"))}, client ${f0(cpu("client"))}, nats-server ${f0(cpu("nats"))}) where the model alone, in process at its best size, spends ${best.toFixed(1)}: ` +
    `with the machine to itself auto would reach about ${r.ratios.adaptiveVsCeilingPerCpu.median.toPrecision(2)}× the ceiling, and other programs took ${f0(cpu("other"))} µs per sample more.`
  )
}

const main = async () => {
  await ensureCnnModel(CNN_MODEL_DIR)
  const { startLocalNatsServer } = await dist.natsServer()
  const nats = await startLocalNatsServer()
  stopNats = nats.stop
  const dir = await mkdtemp(join(tmpdir(), "modelbus-batch-sizing-"))
  const machine = describeMachine()
  const results: Array<ModelResult> = []
  for (const model of MODELS) results.push(await benchModel(model, nats.url, nats.pid, dir))
  await stopAll()
  await nats.stop()
  const figures: Recorded = {
    machine,
    rounds: ROUNDS,
    windowMs: WINDOW_MS,
    ceilingMs: CEILING_MS,
    concurrency: CONCURRENCY,
    replicas: REPLICAS,
    results
  }
  const json = await writeResultJson("batch-sizing", figures)
  const section = sectionOf(figures, json)
  console.log(`\n${section}`)
  console.log(`\nwrote ${await writeSection("batch-sizing", section)} and ${json}`)
}

/** `--from=FILE`: the section again from recorded figures (after a change to how it reads them). */
const rewrite = async (file: string) => {
  const figures = JSON.parse(await readFile(file, "utf8")) as Recorded
  const section = sectionOf(figures, resolve(file))
  console.log(section)
  console.log(`\nwrote ${await writeSection("batch-sizing", section)}`)
}

const FROM = option("from")
;(FROM === undefined ? main() : rewrite(FROM)).catch(async (error) => {
  console.error(error)
  await stopAll()
  await stopNats()
  process.exit(1)
})
