// ONNX Runtime against TF.js WASM on the same models (the Iris MLP and the CNN, each as its ONNX twin
// with the same weights), interleaved: in-process ceiling and CPU per row, then modelbus with 2 replicas
// at c=64 (throughput, actor CPU per request) and at c=1 (p50). Writes its section of BENCHMARKS.md.
//   npm run build && npx tsx bench/onnxRuntime.ts [--rounds=4] [--window-ms=2000] [--ceiling-ms=400] [--models=iris,cnn]
import { execFileSync } from "node:child_process"
import { mkdtemp, writeFile } from "node:fs/promises"
import { loadavg, tmpdir } from "node:os"
import { join, relative } from "node:path"
import { connect } from "@nats-io/transport-node"
import { helperReady } from "./lib/bench.js"
import { forkHelper, killAllNow, type Started, spawnCli, stopAll } from "./lib/children.js"
import { ensureCnnModel } from "./lib/cnnModel.js"
import { interleave, pairedRatios, type Spread, spreadOf } from "./lib/interleave.js"
import { closedLoop } from "./lib/loadgen.js"
import { describeMachine } from "./lib/machine.js"
import { type BenchModel, modelNamed, tensorInput } from "./lib/models.js"
import { MuxedClient } from "./lib/muxedClient.js"
import { ensureOnnxTwins } from "./lib/onnxTwins.js"
import { CNN_MODEL_DIR, dist, ROOT } from "./lib/paths.js"
import { processWindow } from "./lib/procStats.js"
import { writeResultJson } from "./lib/report.js"
import { rpcClient } from "./lib/rpc.js"
import { writeSection } from "./lib/sections.js"

const option = (name: string) => process.argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3)
const ROUNDS = Number(option("rounds") ?? 4)
const WINDOW_MS = Number(option("window-ms") ?? 2_000)
const CEILING_MS = Number(option("ceiling-ms") ?? 400)
const MODELS = (option("models") ?? "iris,cnn").split(",").map(modelNamed)
const REPLICAS = 2
const SIZES = [1, 8, 32, 64, 128]

type Runtime = "tfjs" | "onnx"
const RUNTIMES: ReadonlyArray<Runtime> = ["tfjs", "onnx"]
const RUNTIME_LABEL: Record<Runtime, string> = { tfjs: "TF.js WASM", onnx: "ONNX Runtime (1 thread)" }

process.on("exit", () => killAllNow())
let stopNats: () => Promise<void> = async () => {}
for (const signal of ["SIGINT", "SIGTERM"] as const)
  process.once(signal, () => void Promise.all([stopAll(), stopNats()]).finally(() => process.exit(130)))

interface Figure {
  /** In-process, one process, one thread: samples/s at the best batch size of the round, and that size. */
  readonly ceiling: number
  readonly bestSize: number
  /** In-process CPU µs per row at batch 1 and at the best size. */
  readonly cpuPerRowAt1: number
  readonly cpuPerRowBest: number
  /** modelbus, 2 replicas, c=64: requests/s, the actors' CPU µs per request, errors. */
  readonly throughput: number
  readonly actorCpuPerRequest: number
  readonly errors: number
  /** modelbus, c=1: median latency. */
  readonly p50Ms: number
  readonly load: number
}

const ownCpuUs = () => {
  const { user, system } = process.cpuUsage()
  return user + system
}

const benchModel = async (model: BenchModel, onnxDir: string, natsUrl: string, dir: string) => {
  const { encodeRequest } = await dist.codec()
  const { connect: connectClient } = await dist.client()
  const dirOf: Record<Runtime, string> = { tfjs: model.dir, onnx: onnxDir }
  const prefixOf = (r: Runtime) => `ort${r}${model.name}`
  const started: Array<Started> = []
  const actorPids: Record<Runtime, Array<number>> = { tfjs: [], onnx: [] }
  for (const runtime of RUNTIMES) {
    const file = join(dir, `${prefixOf(runtime)}.json`)
    const entry = { name: model.name, path: dirOf[runtime], replicas: REPLICAS, heartbeatMs: 200 }
    await writeFile(file, JSON.stringify({ prefix: prefixOf(runtime), registry: { mode: "off" }, models: [entry] }))
    const s = spawnCli(["supervise", "--config", file, "--server", natsUrl], `${runtime} ${model.name}`, {
      MODELBUS_BACKEND: "wasm"
    })
    started.push(s)
    await s.waitForLine(/modelbus ready/, 120_000)
    const status = await connectClient({ servers: natsUrl, prefix: prefixOf(runtime) })
    // wait for the replicas' batch-size measurement, which runs right after they are ready
    for (let tries = 0; tries < 300; tries++) {
      const actors = (await status.status()).flatMap((s) => s.actors).filter((a) => a.state !== "standby")
      if (actors.every((a) => a.batching !== undefined && a.batching.source !== "probing")) {
        actorPids[runtime] = actors.flatMap((a) => (a.pid === null ? [] : [a.pid]))
        console.log(`${model.name} ${runtime}: batch limits ${actors.map((a) => a.batching?.maxBatchSize).join(", ")}`)
        break
      }
      await new Promise((r) => setTimeout(r, 200))
    }
    await status.close()
  }
  const workers = Object.fromEntries(
    RUNTIMES.map((r) => [
      r,
      forkHelper("bench/lib/ceilingWorker.ts", `ceiling ${r} ${model.name}`, {
        BENCH_MODEL: model.name,
        BENCH_MODEL_DIR: dirOf[r]
      })
    ])
  ) as Record<Runtime, Started>
  await Promise.all(Object.values(workers).map((w) => helperReady(w)))
  const rpcs = Object.fromEntries(RUNTIMES.map((r) => [r, rpcClient(workers[r].child, workers[r].name)])) as Record<
    Runtime,
    ReturnType<typeof rpcClient>
  >
  const nc = await connect({ servers: natsUrl })
  const client = new MuxedClient(nc, 30_000)
  const bodies = Array.from({ length: 16 }, (_, i) => encodeRequest(tensorInput(model, 1, i + 1), undefined, "msgpack"))

  const ceiling = async (runtime: Runtime) => {
    const rows: Record<number, { perSecond: number; cpuPerRow: number }> = {}
    for (const batch of SIZES) {
      await rpcs[runtime].call({ type: "warmup", batch, durationMs: 200 }, 120_000)
      const r = await rpcs[runtime].call<{ perSecond: number; count: number; cpuUs: number }>(
        { type: "run", batch, durationMs: CEILING_MS },
        120_000
      )
      rows[batch] = { perSecond: r.perSecond, cpuPerRow: r.cpuUs / r.count }
    }
    const bestSize = SIZES.reduce((best, s) => (rows[s]!.perSecond > rows[best]!.perSecond ? s : best), 1)
    return { rows, bestSize }
  }
  const modelbus = async (runtime: Runtime, concurrency: number, durationMs: number) => {
    const subject = `${prefixOf(runtime)}.infer.${model.name}`
    const window = processWindow(actorPids[runtime].map((pid, i) => ({ role: `model-${i + 1}`, pid })))
    let actorCpuSeconds = 0
    const summary = await closedLoop(
      async (i) => {
        const reply = await client.request(subject, bodies[i % bodies.length]!)
        const code = reply.headers?.get("Nats-Service-Error-Code")
        if (code !== undefined && code !== "") throw new Error(`error ${code}`)
      },
      { concurrency, warmupMs: 300, durationMs, maxRequests: 10_000_000 },
      {
        onWindow: (edge) => {
          if (edge === "start") window.start()
          else actorCpuSeconds = window.end().processes.reduce((n, p) => n + p.cpuSeconds, 0)
        }
      }
    )
    return { summary, actorCpuUsPerRequest: (actorCpuSeconds * 1e6) / Math.max(1, summary.count) }
  }
  const measure = async (runtime: Runtime): Promise<Figure> => {
    const c = await ceiling(runtime)
    const busy = await modelbus(runtime, 64, WINDOW_MS)
    const single = await modelbus(runtime, 1, WINDOW_MS / 2)
    return {
      ceiling: c.rows[c.bestSize]!.perSecond,
      bestSize: c.bestSize,
      cpuPerRowAt1: c.rows[1]!.cpuPerRow,
      cpuPerRowBest: c.rows[c.bestSize]!.cpuPerRow,
      throughput: busy.summary.perSecond,
      actorCpuPerRequest: busy.actorCpuUsPerRequest,
      errors: busy.summary.errors + single.summary.errors,
      p50Ms: single.summary.p50Ms,
      load: loadavg()[0]!
    }
  }
  // warm every path once: the actors' first batches, and each in-process worker for a second (JIT, kernels)
  for (const runtime of RUNTIMES) {
    await modelbus(runtime, 64, 500)
    await rpcs[runtime].call({ type: "warmup", batch: 1, durationMs: 1_000 }, 120_000)
  }
  const cpuBefore = ownCpuUs()
  const figures = await interleave(RUNTIMES, ROUNDS, measure, (runtime, round, f) =>
    console.log(
      `${model.name} round ${round + 1} ${runtime.padEnd(5)} ceiling ${f.ceiling.toFixed(0)}/s (batch ${f.bestSize}), ` +
        `CPU/row ${f.cpuPerRowAt1.toFixed(1)} µs at 1, ${f.cpuPerRowBest.toFixed(1)} µs at best; c=64 ${f.throughput.toFixed(0)} req/s ` +
        `(${f.actorCpuPerRequest.toFixed(0)} µs actor CPU/req, ${f.errors} errors); c=1 p50 ${f.p50Ms.toFixed(3)} ms (load ${f.load.toFixed(1)})`
    )
  )
  console.log(`${model.name}: the bench process (client) used ${((ownCpuUs() - cpuBefore) / 1e6).toFixed(1)} s of CPU`)
  client.close()
  await nc.close()
  await Promise.all([...Object.values(workers), ...started].map((p) => p.stop()))
  return { model: model.name, label: model.label, figures }
}

type ModelResult = Awaited<ReturnType<typeof benchModel>>

const f0 = (x: number) => Math.round(x).toLocaleString("en-US")
const spreadText = (xs: ReadonlyArray<number>, digits = 0) => {
  const s = spreadOf(xs)
  const f = (x: number) => (digits === 0 ? f0(x) : x.toFixed(digits))
  return `${f(s.median)} (${f(s.min)}–${f(s.max)})`
}
const ratioText = (s: Spread) => `${s.median.toFixed(2)}× (${s.min.toFixed(2)}–${s.max.toFixed(2)})`

const sectionOf = (
  machine: ReturnType<typeof describeMachine>,
  uptime: string,
  results: ReadonlyArray<ModelResult>,
  json: string
) =>
  [
    "## ONNX Runtime against TF.js WASM",
    "",
    `\`npx tsx bench/onnxRuntime.ts\`, ${machine.date}: ${machine.cpu}, ${machine.cores} cores, Node ${machine.node}, ` +
      `onnxruntime-node ${machine.packages["onnxruntime-node"] ?? "?"}; ${ROUNDS} interleaved rounds (TF.js, ONNX, ONNX, TF.js, …). ` +
      `The machine is shared: \`uptime\` at the end: ${uptime}.`,
    "",
    "The same models on both runtimes: the Iris MLP and the CNN, each written as an ONNX twin from the TF.js weights " +
      "(same input and output names; outputs agree to 1e-7). In-process: one process running predict back to back " +
      "(ONNX Runtime with `intraOpNumThreads` 1, TF.js on WASM), best of batch sizes " +
      `${SIZES.join(", ")}; CPU per row from the process's CPU clock. modelbus: one supervisor per runtime, ${REPLICAS} replicas, ` +
      `batch size \`auto\`, msgpack requests of one row from a muxed client; c=64 for ${WINDOW_MS} ms windows, c=1 for ${WINDOW_MS / 2} ms.`,
    "",
    "| model | runtime | in-process ceiling, rows/s (best batch) | in-process CPU µs/row at batch 1 | at the best batch | modelbus c=64 req/s | actor CPU µs/req at c=64 | modelbus c=1 p50 ms |",
    "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ...results.flatMap((r) =>
      RUNTIMES.map((runtime) => {
        const fs = r.figures[runtime]
        const best = [...new Set(fs.map((f) => f.bestSize))].sort((a, b) => a - b).join("/")
        return `| ${r.label} | ${RUNTIME_LABEL[runtime]} | ${spreadText(fs.map((f) => f.ceiling))} (${best}) | ${spreadText(
          fs.map((f) => f.cpuPerRowAt1),
          1
        )} | ${spreadText(
          fs.map((f) => f.cpuPerRowBest),
          2
        )} | ${spreadText(fs.map((f) => f.throughput))} | ${spreadText(
          fs.map((f) => f.actorCpuPerRequest)
        )} | ${spreadText(
          fs.map((f) => f.p50Ms),
          3
        )} |`
      })
    ),
    "",
    "ONNX Runtime ÷ TF.js, paired by round:",
    "",
    ...results.map((r) => {
      const o = r.figures.onnx
      const t = r.figures.tfjs
      return (
        `- ${r.label}: in-process ceiling ${ratioText(
          spreadOf(
            pairedRatios(
              o.map((f) => f.ceiling),
              t.map((f) => f.ceiling)
            )
          )
        )}, ` +
        `CPU per row at batch 1 ${ratioText(
          spreadOf(
            pairedRatios(
              o.map((f) => f.cpuPerRowAt1),
              t.map((f) => f.cpuPerRowAt1)
            )
          )
        )}, ` +
        `modelbus c=64 ${ratioText(
          spreadOf(
            pairedRatios(
              o.map((f) => f.throughput),
              t.map((f) => f.throughput)
            )
          )
        )}, ` +
        `c=1 p50 ${ratioText(
          spreadOf(
            pairedRatios(
              o.map((f) => f.p50Ms),
              t.map((f) => f.p50Ms)
            )
          )
        )}; errors: ${[...o, ...t].reduce((n, f) => n + f.errors, 0)}`
      )
    }),
    "",
    `Figures: \`${json}\`.`
  ].join("\n")

const main = async () => {
  const machine = describeMachine()
  const twins = await ensureOnnxTwins()
  await ensureCnnModel(CNN_MODEL_DIR)
  const { startLocalNatsServer } = await dist.natsServer()
  const nats = await startLocalNatsServer({ jetstream: false })
  stopNats = () => nats.stop()
  const dir = await mkdtemp(join(tmpdir(), "modelbus-onnx-bench-"))
  const results: Array<ModelResult> = []
  try {
    for (const model of MODELS)
      results.push(await benchModel(model, model.name === "iris" ? twins.iris : twins.cnn, nats.url, dir))
  } finally {
    await stopAll()
    await nats.stop()
  }
  const uptime = execFileSync("uptime", { encoding: "utf8" }).trim()
  const figures = { machine, uptime, rounds: ROUNDS, windowMs: WINDOW_MS, ceilingMs: CEILING_MS, results }
  const file = await writeResultJson("onnx-runtime", figures)
  const section = sectionOf(machine, uptime, results, relative(ROOT, file))
  console.log(`\n${section}\n`)
  console.log(`wrote ${await writeSection("onnx-runtime", section)} and ${file}`)
}

await main()
