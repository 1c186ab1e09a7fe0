// What autoscaling gives and costs, with real processes (Iris, WASM): the time from a load step to
// the target replica count with p99 before and after; the first reply from zero with a warm standby
// and without (interleaved wakes); memory of an idle model at min 0 against min 1. Printed with
// `uptime`, written to bench/results and to BENCHMARKS.md.
//   npm run build && npx tsx bench/autoscale.ts [--steps=3] [--wakes=10] [--concurrency=16]
import { execFileSync } from "node:child_process"
import { mkdir, mkdtemp, writeFile } from "node:fs/promises"
import { cpus, tmpdir } from "node:os"
import { join } from "node:path"
import type { Client } from "../src/client/index.js"
import { adopt, killAllNow, spawnCli, stopAll } from "./lib/children.js"
import { interleave, spreadOf } from "./lib/interleave.js"
import { dist, IRIS_MODEL_DIR, RESULTS_DIR } from "./lib/paths.js"
import { round, sampleProcess } from "./lib/procStats.js"
import { writeSection } from "./lib/sections.js"

const arg = (name: string, fallback: number) =>
  Number(process.argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3) ?? fallback)
const STEPS = arg("steps", 3)
const WAKES = arg("wakes", 10)
const CONCURRENCY = arg("concurrency", 16)

process.on("exit", () => killAllNow())
let stopNats: () => Promise<void> = async () => {}
for (const signal of ["SIGINT", "SIGTERM"] as const)
  process.once(signal, () => void Promise.all([stopAll(), stopNats()]).finally(() => process.exit(130)))

const uptime = () => execFileSync("uptime", { encoding: "utf8" }).trim()
const ROW = [[5.1, 3.5, 1.4, 0.2]]
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

/** Polls `check` every 50 ms until it returns a value. */
const until = async <A>(check: () => Promise<A | undefined>, what: string, timeoutMs = 120_000): Promise<A> => {
  const deadline = performance.now() + timeoutMs
  for (;;) {
    const value = await check().catch(() => undefined)
    if (value !== undefined) return value
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await sleep(50)
  }
}

const quantile = (xs: ReadonlyArray<number>, q: number) => {
  if (xs.length === 0) return Number.NaN
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))]!
}

/** A supervisor on its own prefix serving Iris with `autoscale`, and a client of it. */
const deploy = async (nats: string, prefix: string, autoscale: object, standby: number) => {
  const { connect } = await dist.client()
  const dir = await mkdtemp(join(tmpdir(), `modelbus-autoscale-bench-${prefix}-`))
  const config = join(dir, "modelbus.json")
  await writeFile(
    config,
    JSON.stringify({
      prefix,
      supervisor: { standby, maxActors: 4 },
      models: [{ name: "iris", path: IRIS_MODEL_DIR, heartbeatMs: 100, autoscale }]
    })
  )
  const supervisor = spawnCli(["supervise", "--config", config, "--server", nats], prefix, { MODELBUS_BACKEND: "wasm" })
  await supervisor.waitForLine(/modelbus ready/, 90_000)
  const client = await connect({ servers: nats, prefix, timeoutMs: 30_000, name: `autoscale-bench-${prefix}` })
  const status = async () => (await client.status())[0]!
  const iris = async () => (await status()).actors.filter((a) => a.model === "iris")
  return { supervisor, client, status, iris }
}
type Deployment = Awaited<ReturnType<typeof deploy>>

/** A closed loop of `CONCURRENCY` callers, each latency kept with the time it ended (ms since `start`). */
const loadOf = (client: Client) => {
  let running = true
  const start = performance.now()
  const samples: Array<{ readonly at: number; readonly ms: number }> = []
  let errors = 0
  const worker = async () => {
    while (running) {
      const t = performance.now()
      try {
        await client.infer("iris", ROW)
        samples.push({ at: performance.now() - start, ms: performance.now() - t })
      } catch {
        errors++
      }
    }
  }
  const workers = Array.from({ length: CONCURRENCY }, worker)
  return {
    start,
    samples,
    stop: async () => {
      running = false
      await Promise.all(workers)
      return errors
    }
  }
}

interface StepFigure {
  readonly toTargetMs: number
  readonly target: number
  readonly p99BeforeMs: number
  readonly p99AfterMs: number
  readonly errors: number
}

/** One load step from 1 replica: how long until the target serves, p99 in the first second and once it serves. */
const step = async (d: Deployment): Promise<StepFigure> => {
  await until(async () => {
    const rows = await d.iris()
    return rows.length === 1 && rows[0]!.state === "serving" ? true : undefined
  }, "one serving replica")
  const load = loadOf(d.client)
  const reached = await until(async () => {
    const s = await d.status()
    const target = s.tree?.models[0]?.autoscale?.target ?? 0
    const serving = s.actors.filter((a) => a.model === "iris" && a.state === "serving").length
    for (const a of s.actors) if (a.pid !== null) adopt(a.pid)
    return target >= 2 && serving === target ? { at: performance.now() - load.start, target } : undefined
  }, "the target replica count serving")
  await sleep(3_000)
  const errors = await load.stop()
  const before = load.samples.filter((s) => s.at < 1_000).map((s) => s.ms)
  const after = load.samples.filter((s) => s.at > reached.at).map((s) => s.ms)
  return {
    toTargetMs: round(reached.at, 0),
    target: reached.target,
    p99BeforeMs: round(quantile(before, 0.99), 2),
    p99AfterMs: round(quantile(after, 0.99), 2),
    errors
  }
}

/** Replica processes each deployment woke: the next wake waits until they are gone (drained), not only out of status. */
const woken = new Map<Deployment, Array<number>>()

/** Waits for the model at zero (and the standby ready when there is one), then times its first reply. */
const wake = async (d: Deployment, standby: boolean): Promise<{ readonly firstReplyMs: number }> => {
  await until(async () => {
    const s = await d.status()
    const gone = (woken.get(d) ?? []).every((pid) => sampleProcess(pid) === undefined)
    const atZero = gone && s.actors.every((a) => a.model !== "iris")
    const ready = !standby || s.actors.some((a) => a.state === "standby")
    for (const a of s.actors) if (a.pid !== null) adopt(a.pid)
    return atZero && ready ? true : undefined
  }, "the model at zero")
  const t = performance.now()
  await d.client.infer("iris", ROW)
  const firstReplyMs = round(performance.now() - t, 0)
  woken.set(
    d,
    (await d.iris()).flatMap((a) => (a.pid === null ? [] : [a.pid]))
  )
  return { firstReplyMs }
}

/** Resident memory of the supervisor and every process it runs, in MB. */
const memoryMb = async (d: Deployment) => {
  const s = await d.status()
  const pids = [s.supervisor.pid, ...s.actors.flatMap((a) => (a.pid === null ? [] : [a.pid]))]
  return round(pids.reduce((sum, pid) => sum + (sampleProcess(pid)?.rssBytes ?? 0), 0) / (1024 * 1024), 1)
}

const main = async () => {
  const { startLocalNatsServer } = await dist.natsServer()
  const nats = await startLocalNatsServer()
  stopNats = nats.stop
  const before = uptime()
  console.log(`uptime before: ${before}`)

  const stepPolicy = {
    min: 1,
    max: 3,
    targetInflight: 2,
    upscaleDelayMs: 1_000,
    downscaleDelayMs: 3_000,
    lookbackMs: 1_000
  }
  const stepped = await deploy(nats.url, "step", stepPolicy, 1)
  const steps: Array<StepFigure> = []
  for (let i = 0; i < STEPS; i++) {
    const f = await step(stepped)
    steps.push(f)
    console.log(
      `step ${i + 1}: target ${f.target} serving after ${f.toTargetMs} ms; p99 first second ${f.p99BeforeMs} ms, once at target ${f.p99AfterMs} ms; errors ${f.errors}`
    )
  }
  await stepped.client.close()
  await stepped.supervisor.stop()

  const zeroPolicy = { min: 0, max: 1, targetInflight: 2, upscaleDelayMs: 0, downscaleDelayMs: 500, lookbackMs: 300 }
  const warm = await deploy(nats.url, "warm", zeroPolicy, 1)
  const cold = await deploy(nats.url, "cold", zeroPolicy, 0)
  const Variant = { warm: "with a standby", cold: "without a standby" } as const
  const wakes = await interleave(
    [Variant.warm, Variant.cold],
    WAKES,
    (v) => wake(v === Variant.warm ? warm : cold, v === Variant.warm),
    (v, r, f) => console.log(`wake ${r + 1} ${v}: first reply after ${f.firstReplyMs} ms`)
  )
  await warm.client.close()
  await warm.supervisor.stop()

  const one = await deploy(nats.url, "one", { ...zeroPolicy, min: 1 }, 0)
  await until(async () => ((await cold.iris()).length === 0 ? true : undefined), "cold at zero")
  await until(async () => ((await one.iris())[0]?.state === "serving" ? true : undefined), "one replica serving")
  await sleep(2_000)
  const memory = { min0Mb: await memoryMb(cold), min1Mb: await memoryMb(one) }
  console.log(`idle memory (supervisor + its processes): min 0 ${memory.min0Mb} MB, min 1 ${memory.min1Mb} MB`)
  for (const d of [cold, one]) {
    await d.client.close()
    await d.supervisor.stop()
  }
  const after = uptime()
  console.log(`uptime after: ${after}`)

  const firstReply = (v: (typeof Variant)[keyof typeof Variant]) => spreadOf(wakes[v].map((f) => f.firstReplyMs))
  const toTarget = spreadOf(steps.map((s) => s.toTargetMs))
  const p99Before = spreadOf(steps.map((s) => s.p99BeforeMs))
  const p99After = spreadOf(steps.map((s) => s.p99AfterMs))
  const report = {
    date: new Date().toISOString(),
    machine: { cores: cpus().length, cpu: cpus()[0]?.model, node: process.version },
    steps,
    stepPolicy,
    zeroPolicy,
    wakes,
    memory,
    uptime: { before, after }
  }
  await mkdir(RESULTS_DIR, { recursive: true })
  const file = join(RESULTS_DIR, `autoscale-${report.date.replace(/:/g, "-").replace(/\.\d+Z$/, "Z")}.json`)
  await writeFile(file, `${JSON.stringify(report, null, 2)}\n`)
  console.log(`wrote ${file}`)
  const spread = (s: { median: number; min: number; max: number }, unit = "ms") =>
    `${s.median} ${unit} (${s.min}–${s.max})`
  const warmReply = firstReply(Variant.warm)
  const section = [
    "## Autoscaling: a load step, waking from zero, idle memory",
    "",
    `Run by \`npx tsx bench/autoscale.ts --steps=${STEPS} --wakes=${WAKES}\` on ${report.date} (Node.js ${process.version}, ${report.machine.cores} cores). One supervisor at a time per figure (Iris, WASM), the modelbus client in the bench's process, ${CONCURRENCY} callers in a closed loop for the step.`,
    "",
    `- \`uptime\` before: \`${before}\``,
    `- \`uptime\` after: \`${after}\``,
    "",
    `- **Load step** (\`${JSON.stringify(stepPolicy)}\`, from 1 replica to ${CONCURRENCY} callers): the target replica count serving after ${spread(toTarget)} (median of ${STEPS} steps; the upscale delay is 1 s of it, the lookback smoothing and a standby's model load the rest); p99 in the first second ${spread(p99Before)}, once the target serves ${spread(p99After)}; failed requests: ${steps.reduce((n, s) => n + s.errors, 0)}.`,
    `- **First reply from zero** (\`${JSON.stringify(zeroPolicy)}\`, ${WAKES} wakes each, interleaved): with a warm standby ${spread(warmReply)}, without ${spread(firstReply(Variant.cold))}; goal ≤ 500 ms median with a standby: **${warmReply.median <= 500 ? "met" : "missed"}**. The reply includes holding the request, a sample period (100 ms heartbeats here), the process taking the slot, loading the model and the republished request.`,
    `- **Idle memory** (the supervisor and every process it runs, RSS, no standby): min 0 at zero ${memory.min0Mb} MB, min 1 ${memory.min1Mb} MB: ${round(memory.min1Mb - memory.min0Mb, 1)} MB saved per idle model at zero.`,
    p99After.median > p99Before.median
      ? `- p99 is not lower once the target serves on this host: ${report.machine.cores} cores shared with other programs (see \`uptime\`) run every replica of a CPU-bound model, so more replicas add queues, not CPU; on a host with idle cores the added replicas take the queue off the first one.`
      : "- p99 falls once the target serves: the added replicas take the queue off the first one.",
    `- Figures: \`${file.slice(file.indexOf("bench/results"))}\`.`
  ].join("\n")
  console.log(`wrote ${await writeSection("autoscale", section)}`)
  await stopAll()
  await nats.stop()
}

main().catch(async (error) => {
  console.error(error)
  await stopAll()
  process.exit(1)
})
