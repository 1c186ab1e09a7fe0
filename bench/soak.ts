// Soak: a moderate steady load on three Iris replicas for a long stretch (30 min by default), each
// replica recycled after a number of requests and a random one SIGKILLed every minute; memory of the
// actors (RSS, live tensors) and of the supervisor sampled throughout. Not a CI test: run it on a quiet machine.
//   npm run build && npx tsx bench/soak.ts [--minutes=30] [--rate=200] [--kill-every-s=60] [--recycle-after=20000]
import { mkdtemp, writeFile } from "node:fs/promises"
import { loadavg, tmpdir } from "node:os"
import { join } from "node:path"
import type { Client, HostTensor, LifecycleEvent } from "../src/client/index.js"
import { killAllNow, spawnCli, stopAll } from "./lib/children.js"
import { describeMachine } from "./lib/machine.js"
import { dist, IRIS_MODEL_DIR } from "./lib/paths.js"
import { sampleProcess } from "./lib/procStats.js"
import { writeSection } from "./lib/sections.js"

const arg = (name: string, fallback: number) =>
  Number(process.argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3) ?? fallback)
const MINUTES = arg("minutes", 30)
const RATE = arg("rate", 200)
const KILL_EVERY_S = arg("kill-every-s", 60)
const RECYCLE_AFTER = arg("recycle-after", 20_000)
const SAMPLE_EVERY_S = Math.min(30, Math.max(5, (MINUTES * 60) / 60))
const WORKERS = 16
/** Memory counts as flat when the last quarter's median is within this factor of the first quarter's. */
const FLAT = 1.2

process.on("exit", () => killAllNow())
let stopNats: () => Promise<void> = async () => {}
for (const signal of ["SIGINT", "SIGTERM"] as const)
  process.once(signal, () => void Promise.all([stopAll(), stopNats()]).finally(() => process.exit(130)))

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))
const sortedQuantile = (xs: ReadonlyArray<number>, q: number) => {
  if (xs.length === 0) return Number.NaN
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))]!
}
const mb = (bytes: number) => bytes / (1024 * 1024)

interface Sample {
  readonly atS: number
  readonly actorRssMb: number
  readonly actorTensors: number
  readonly supervisorRssMb: number
  readonly requests: number
  readonly failures: number
}

const main = async () => {
  const { startLocalNatsServer } = await dist.natsServer()
  const { connect } = await dist.client()
  const nats = await startLocalNatsServer()
  stopNats = nats.stop
  const dir = await mkdtemp(join(tmpdir(), "modelbus-soak-"))
  const config = join(dir, "modelbus.json")
  await writeFile(
    config,
    JSON.stringify({
      supervisor: { intensity: 100, period: 60 },
      models: [{ name: "soak", path: IRIS_MODEL_DIR, replicas: 3, recycle: { afterRequests: RECYCLE_AFTER } }]
    })
  )
  const supervisor = spawnCli(["supervise", "--config", config, "--server", nats.url], "supervisor")
  await supervisor.waitForLine(/modelbus ready/, 120_000)
  const client: Client = await connect({ servers: nats.url })
  const events: Array<LifecycleEvent> = []
  const unsubscribe = await client.onEvents((e) => events.push(e), "soak")

  const rows = [
    [5.1, 3.5, 1.4, 0.2],
    [6.2, 2.9, 4.3, 1.3],
    [7.7, 3.0, 6.1, 2.3]
  ]
  const expected = await Promise.all(
    rows.map(async (row) =>
      Array.from(((await client.infer("soak", [row])).outputs as HostTensor).data as Float32Array)
    )
  )
  const latencies: Array<number> = []
  const failures: Array<string> = []
  let wrong = 0
  let running = true
  const started = performance.now()
  const perWorkerGapMs = (1_000 * WORKERS) / RATE
  const worker = async (w: number) => {
    for (let i = w; running; i += WORKERS) {
      const due = started + i * (1_000 / RATE)
      const wait = due - performance.now()
      if (wait > 0) await sleep(wait)
      else if (wait < -10 * perWorkerGapMs) continue // behind schedule: the load stays moderate, never catches up in a burst
      const k = i % rows.length
      const t = performance.now()
      try {
        const got = Array.from(((await client.infer("soak", [rows[k]!])).outputs as HostTensor).data as Float32Array)
        if (got.some((v, j) => v !== expected[k]![j])) wrong++
      } catch (error) {
        failures.push(String(error))
      }
      latencies.push(performance.now() - t)
    }
  }
  const workers = Array.from({ length: WORKERS }, (_, w) => worker(w))

  const samples: Array<Sample> = []
  const kills: Array<number> = []
  const endAt = started + MINUTES * 60_000
  let nextKill = started + KILL_EVERY_S * 1_000
  let nextSample = started
  while (performance.now() < endAt) {
    const now = performance.now()
    if (now >= nextSample) {
      nextSample += SAMPLE_EVERY_S * 1_000
      const actors = (await client.status())
        .flatMap((s) => s.actors)
        .filter((a) => a.model === "soak" && a.pid !== null)
      const serving = actors.filter((a) => a.state === "serving")
      samples.push({
        atS: Math.round((now - started) / 1_000),
        actorRssMb: mb(
          sortedQuantile(
            serving.map((a) => a.rssBytes),
            0.5
          )
        ),
        actorTensors: sortedQuantile(
          serving.map((a) => a.tensors),
          0.5
        ),
        supervisorRssMb: mb(sampleProcess(supervisor.pid)?.rssBytes ?? Number.NaN),
        requests: latencies.length,
        failures: failures.length
      })
      console.log(`soak ${JSON.stringify(samples.at(-1))}`)
    }
    if (now >= nextKill) {
      nextKill += KILL_EVERY_S * 1_000
      const live = (await client.status())
        .flatMap((s) => s.actors)
        .filter((a) => a.model === "soak" && a.pid !== null && a.state === "serving")
      const victim = live[Math.floor(Math.random() * live.length)]
      if (victim !== undefined) {
        process.kill(victim.pid!, "SIGKILL")
        kills.push(Math.round((now - started) / 1_000))
      }
    }
    await sleep(Math.max(10, Math.min(nextKill, nextSample, endAt) - performance.now()))
  }
  running = false
  await Promise.all(workers)
  unsubscribe()
  const elapsedS = (performance.now() - started) / 1_000
  await client.close()
  await supervisor.stop()
  await nats.stop()

  const quarter = Math.max(1, Math.floor(samples.length / 4))
  const drift = (pick: (s: Sample) => number) => {
    const first = sortedQuantile(samples.slice(0, quarter).map(pick), 0.5)
    const last = sortedQuantile(samples.slice(-quarter).map(pick), 0.5)
    return { first, last, ratio: last / first, flat: last <= first * FLAT }
  }
  const result = {
    minutes: Number((elapsedS / 60).toFixed(1)),
    rate: RATE,
    requests: latencies.length,
    requestsPerSecond: Math.round(latencies.length / elapsedS),
    failures: failures.length,
    failureSamples: failures.slice(0, 3),
    wrongAnswers: wrong,
    kills: kills.length,
    recycled: events.filter((e) => e.type === "recycled").length,
    latencyMs: {
      p50: sortedQuantile(latencies, 0.5),
      p99: sortedQuantile(latencies, 0.99),
      p999: sortedQuantile(latencies, 0.999),
      // not Math.max(...latencies): hundreds of thousands of arguments overflow the stack
      max: latencies.reduce((m, x) => Math.max(m, x), 0)
    },
    actorRssMb: drift((s) => s.actorRssMb),
    actorTensors: drift((s) => s.actorTensors),
    supervisorRssMb: drift((s) => s.supervisorRssMb),
    loadAverage: loadavg()
  }
  console.log(`soak result: ${JSON.stringify(result)}`)
  const machine = describeMachine()
  const f1 = (x: number) => x.toFixed(1)
  const row = (name: string, d: ReturnType<typeof drift>, unit: string) =>
    `| ${name} | ${f1(d.first)} ${unit} | ${f1(d.last)} ${unit} | ${d.ratio.toFixed(2)} | ${d.flat ? "flat" : "**grew**"} |`
  const file = await writeSection(
    "soak",
    [
      "## Soak: long steady load with recycling and a kill every minute",
      "",
      `Run by \`npx tsx bench/soak.ts --minutes=${MINUTES} --rate=${RATE} --kill-every-s=${KILL_EVERY_S} --recycle-after=${RECYCLE_AFTER}\` on ${machine.date} (Node.js ${machine.node}, ${machine.cores} cores, load average ${result.loadAverage.map((l) => l.toFixed(1)).join(" / ")} at the end). Three Iris replicas (WASM) on one nats-server, each recycled after ${RECYCLE_AFTER} requests; a random serving replica SIGKILLed every ${KILL_EVERY_S} s; ${WORKERS} client workers paced at ${RATE} requests/s in all; memory sampled every ${SAMPLE_EVERY_S} s.`,
      "",
      `- ${result.minutes} min, ${result.requests} requests (${result.requestsPerSecond}/s), **${result.failures} failed**, ${result.wrongAnswers} wrong answers; ${result.kills} kills, ${result.recycled} recycles.`,
      `- Latency: p50 ${f1(result.latencyMs.p50)} ms, p99 ${f1(result.latencyMs.p99)} ms, p99.9 ${f1(result.latencyMs.p999)} ms, max ${f1(result.latencyMs.max)} ms.`,
      "",
      `| memory (median over the serving replicas, per sample) | first quarter | last quarter | last ÷ first | within ${FLAT}× |`,
      "| --- | --- | --- | --- | --- |",
      row("actor RSS", result.actorRssMb, "MB"),
      row("actor live tensors", result.actorTensors, ""),
      row("supervisor RSS", result.supervisorRssMb, "MB")
    ].join("\n")
  )
  console.log(`wrote the soak section of ${file}`)
}

main()
  .catch((error) => {
    console.error(error)
    process.exitCode = 1
  })
  .finally(() => void stopAll())
