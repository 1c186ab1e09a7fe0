// Warm standby, measured: SIGKILL of a one-replica Iris model's actor → the next successful reply, with a
// standby (default) and without (`supervisor.standby: 0`), on two supervisors of one nats-server, killed
// in interleaved order (on, off, off, on, …), beside the model's load time the actors report.
//   npm run build && npx tsx bench/standbyRestart.ts [--kills=12]
import { mkdir, mkdtemp, writeFile } from "node:fs/promises"
import { cpus, loadavg, tmpdir } from "node:os"
import { join } from "node:path"
import { connect, type NatsConnection } from "@nats-io/transport-node"
import type { Client } from "../src/client/index.js"
import { adopt, killAllNow, spawnCli, stopAll } from "./lib/children.js"
import { dist, IRIS_MODEL_DIR, RESULTS_DIR, ROOT } from "./lib/paths.js"
import { writeSection } from "./lib/sections.js"
import { quantile } from "./lib/stats.js"

const arg = (name: string, fallback: number) =>
  Number(process.argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3) ?? fallback)
const KILLS = arg("kills", 12)
/** A probe request every this many ms: the gap is seen to a few ms, without eating the CPU the restart needs. */
const PROBE_INTERVAL_MS = 5
/** The target for a killed replica's slot served again with a standby. */
const TARGET_MS = 250

process.on("exit", () => killAllNow())
let stopNats: () => Promise<void> = async () => {}
for (const signal of ["SIGINT", "SIGTERM"] as const)
  process.once(signal, () => void Promise.all([stopAll(), stopNats()]).finally(() => process.exit(130)))

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))
const quantileOf = (xs: ReadonlyArray<number>, q: number) =>
  quantile(
    [...xs].sort((a, b) => a - b),
    q
  )
const summary = (xs: ReadonlyArray<number>) => ({
  n: xs.length,
  median: quantileOf(xs, 0.5),
  p10: quantileOf(xs, 0.1),
  p90: quantileOf(xs, 0.9),
  min: Math.min(...xs),
  max: Math.max(...xs)
})
const fmt = (s: ReturnType<typeof summary>) =>
  `median ${s.median.toFixed(0)} ms (p10 ${s.p10.toFixed(0)}, p90 ${s.p90.toFixed(0)}, min ${s.min.toFixed(0)}, max ${s.max.toFixed(0)}; n=${s.n})`

/** The BENCHMARKS.md section of a run (its raw figures in `json`): the target beside its baseline (no standby), both from the same interleaved kills. */
const section = (
  r: {
    readonly date: string
    readonly machine: { readonly cores: number; readonly cpu: string | undefined; readonly node: string }
    readonly kills: number
    readonly standbyOn: ReturnType<typeof figures> & { readonly servedByStandby: number }
    readonly standbyOff: ReturnType<typeof figures>
    readonly pairedRatioMedian: number
    readonly loadAverage: ReadonlyArray<number>
  },
  json: string
) => {
  const ms = (x: number) => `${x.toFixed(0)} ms`
  const row = (label: string, f: ReturnType<typeof figures>) =>
    `| ${label} | **${ms(f.gapMs.median)}** (${ms(f.gapMs.p10)}–${ms(f.gapMs.p90)}) | ${ms(f.startedEventMs.median)} | ${ms(f.loadMs.median)} | ${f.lostProbes} |`
  const met = r.standbyOn.gapMs.median <= TARGET_MS
  return [
    "## Warm standby: a killed replica's slot served again",
    "",
    `Run by \`npx tsx bench/standbyRestart.ts --kills=${r.kills}\` on ${r.date} (Node.js ${r.machine.node}, ${r.machine.cores} cores, load average ${r.loadAverage.map((l) => l.toFixed(1)).join(" / ")} at the end); raw figures in \`${json}\`. Two supervisors of a one-replica Iris model (WASM) on one nats-server, one with \`supervisor.standby: 1\` (the default) and one with \`0\`; their actors are SIGKILLed in interleaved order (on, off, off, on, …) while a client sends a request every ${PROBE_INTERVAL_MS} ms.`,
    "",
    "| standby | SIGKILL → next successful reply: median (p10–p90) | SIGKILL → `started` event | model load time the new actor reports (median) | probes lost to the killed process |",
    "| --- | --- | --- | --- | --- |",
    row("1 (default)", r.standbyOn),
    row("0 (the baseline: a fresh process per restart)", r.standbyOff),
    "",
    `- Target: median ≤ ${TARGET_MS} ms with a standby: **${met ? "met" : "missed"}** (${ms(r.standbyOn.gapMs.median)} against ${ms(r.standbyOff.gapMs.median)} without; on ÷ off per round, median ${r.pairedRatioMedian.toFixed(2)}). The standby took the slot in ${r.standbyOn.servedByStandby} of ${r.kills} kills.`,
    `- What remains with a standby: the supervisor noticing the exit, the model's load (${ms(r.standbyOn.loadMs.median)}) and the actor joining the queue group; without one, a fresh Node.js process imports TensorFlow.js and initialises WASM first.`
  ].join("\n")
}

const measures = () => ({
  gapsMs: [] as Array<number>,
  loadMs: [] as Array<number>,
  fromStandby: [] as Array<boolean>,
  restartedMs: [] as Array<number>,
  startedMs: [] as Array<number>,
  lostProbes: 0
})

interface Variant {
  readonly id: "on" | "off"
  readonly prefix: string
  readonly standby: number
  readonly gapsMs: Array<number>
  readonly loadMs: Array<number>
  /** Whether the process that served after a kill was the standby's. */
  readonly fromStandby: Array<boolean>
  /** ms from the kill to the supervisor's `restarted` event (a process took the slot) and `started` (it serves). */
  readonly restartedMs: Array<number>
  readonly startedMs: Array<number>
  /** Probes sent to the killed process (lost: timed out). */
  lostProbes: number
}

const figures = (v: Variant) => ({
  gapMs: summary(v.gapsMs),
  restartedEventMs: summary(v.restartedMs),
  startedEventMs: summary(v.startedMs),
  loadMs: summary(v.loadMs),
  lostProbes: v.lostProbes,
  raw: { gapMs: v.gapsMs, restartedEventMs: v.restartedMs, startedEventMs: v.startedMs, loadMs: v.loadMs }
})

const main = async () => {
  const { startLocalNatsServer } = await dist.natsServer()
  const { encodeRequest } = await dist.codec()
  const { connect: connectClient } = await dist.client()
  const nats = await startLocalNatsServer()
  stopNats = nats.stop
  const dir = await mkdtemp(join(tmpdir(), "modelbus-standby-bench-"))
  const variants: Array<Variant> = [
    { id: "on", prefix: "sbon", standby: 1, ...measures() },
    { id: "off", prefix: "sboff", standby: 0, ...measures() }
  ]
  for (const v of variants) {
    const file = join(dir, `${v.id}.json`)
    // Many kills in a short time: the intensity window must not give up, and each restart is measured without
    // the crash-loop backoff (a replica that served for 10 s, the default resetAfterMs, restarts at once too).
    const config = {
      prefix: v.prefix,
      supervisor: { standby: v.standby, intensity: 1000, period: 1 },
      models: [{ name: "iris", path: IRIS_MODEL_DIR, replicas: 1, backoff: { resetAfterMs: 0 } }]
    }
    await writeFile(file, JSON.stringify(config))
    const s = spawnCli(["supervise", "--config", file, "--server", nats.url], `supervisor ${v.id}`, {
      MODELBUS_BACKEND: "wasm"
    })
    await s.waitForLine(/modelbus ready/, 90_000)
  }
  const clients = new Map<string, Client>()
  for (const v of variants) clients.set(v.id, await connectClient({ servers: nats.url, prefix: v.prefix }))
  const rows = async (v: Variant) => (await clients.get(v.id)!.status()).flatMap((s) => s.actors)
  const nc: NatsConnection = await connect({ servers: nats.url })
  const body = encodeRequest([[5.1, 3.5, 1.4, 0.2]], undefined, "msgpack")

  /** Waits (polling status) until the replica serves and, with standby, a standby is ready; its pid and the standby's. */
  const settled = async (v: Variant, notPid?: number) => {
    for (;;) {
      const all = await rows(v)
      const replica = all.find((a) => a.model === "iris" && a.state === "serving" && a.pid !== notPid)
      const standby = all.find((a) => a.model === "" && a.state === "standby")
      if (replica?.pid != null && (v.standby === 0 || standby?.pid != null))
        return { pid: replica.pid, standby: standby?.pid ?? undefined }
      await sleep(50)
    }
  }
  /** The lifecycle events of each variant's model, as they come (wall clock `at`, ms). */
  const events = new Map<string, Array<{ type: string; at: number; loadMs?: number; pid?: number }>>()
  for (const v of variants) {
    const seen: Array<{ type: string; at: number; loadMs?: number; pid?: number }> = []
    events.set(v.id, seen)
    nc.subscribe(`${v.prefix}.events.iris`, {
      callback: (error, msg) => {
        if (error === null) seen.push(msg.json())
      }
    })
  }
  const nextEvent = async (v: Variant, type: string, after: number) => {
    for (;;) {
      const found = events.get(v.id)!.find((e) => e.type === type && e.at >= after)
      if (found !== undefined) return found
      await sleep(20)
    }
  }

  /**
   * Kills the replica while a steady client sends a request every PROBE_INTERVAL_MS (each waits up to a
   * second: one sent to the dying process is lost, a later one is not held up by it); ms from the SIGKILL
   * to the first successful reply, and to the supervisor's restarted and started events.
   */
  const killAndProbe = async (v: Variant) => {
    const before = await settled(v)
    adopt(before.pid)
    if (before.standby !== undefined) adopt(before.standby)
    await sleep(300) // the last status poll's traffic is over
    const subject = `${v.prefix}.infer.iris`
    let answeredAt: number | undefined
    let lost = 0
    const inFlight: Array<Promise<void>> = []
    const killedWall = Date.now()
    const killedAt = performance.now()
    process.kill(before.pid, "SIGKILL")
    while (answeredAt === undefined) {
      inFlight.push(
        nc.request(subject, body, { timeout: 1_000 }).then(
          () => {
            answeredAt ??= performance.now()
          },
          (error: Error) => {
            if (/timeout/i.test(error.message)) lost++
          }
        )
      )
      await sleep(PROBE_INTERVAL_MS)
    }
    const gap = answeredAt - killedAt
    await Promise.all(inFlight)
    const restarted = await nextEvent(v, "restarted", killedWall)
    const started = await nextEvent(v, "started", killedWall)
    const after = await settled(v, before.pid)
    adopt(after.pid)
    v.gapsMs.push(gap)
    v.fromStandby.push(after.pid === before.standby)
    v.restartedMs.push(restarted.at - killedWall)
    v.startedMs.push(started.at - killedWall)
    if (started.loadMs !== undefined) v.loadMs.push(started.loadMs)
    v.lostProbes += lost
    return {
      gap,
      fromStandby: after.pid === before.standby,
      restarted: restarted.at - killedWall,
      started: started.at - killedWall
    }
  }

  // one unmeasured kill each: the first restart also warms the supervisor's code paths
  for (const v of variants) await killAndProbe(v)
  for (const v of variants) {
    for (const xs of [v.gapsMs, v.fromStandby, v.loadMs, v.restartedMs, v.startedMs]) xs.length = 0
    v.lostProbes = 0
  }

  for (let round = 0; round < KILLS; round++) {
    const order = round % 2 === 0 ? variants : [...variants].reverse()
    for (const v of order) {
      const { gap, fromStandby, restarted, started } = await killAndProbe(v)
      console.log(
        `kill ${String(round + 1).padStart(2)} standby ${v.id.padEnd(3)}  next reply after ${gap.toFixed(0).padStart(5)} ms` +
          `  (restarted event +${restarted} ms, started +${started} ms${fromStandby ? ", the standby took the slot" : ""})`
      )
    }
  }

  const on = variants[0]!
  const off = variants[1]!
  const report = {
    date: new Date().toISOString(),
    machine: { cores: cpus().length, cpu: cpus()[0]?.model, node: process.version },
    kills: KILLS,
    probeIntervalMs: PROBE_INTERVAL_MS,
    targetMs: TARGET_MS,
    standbyOn: { ...figures(on), servedByStandby: on.fromStandby.filter(Boolean).length },
    standbyOff: figures(off),
    pairedRatioMedian: quantileOf(
      on.gapsMs.map((g, i) => g / off.gapsMs[i]!),
      0.5
    ),
    loadAverage: loadavg()
  }
  console.log(`\nSIGKILL → next successful reply, one-replica Iris (WASM), ${KILLS} kills each, interleaved:`)
  console.log(
    `  standby on : ${fmt(report.standbyOn.gapMs)}; the standby took the slot ${report.standbyOn.servedByStandby}/${KILLS}`
  )
  console.log(`  standby off: ${fmt(report.standbyOff.gapMs)}`)
  console.log(
    `  model load time (loadMs the new actor reports): on ${fmt(report.standbyOn.loadMs)}; off ${fmt(report.standbyOff.loadMs)}`
  )
  console.log(
    `  kill → started event (the new actor serves): on ${fmt(report.standbyOn.startedEventMs)}; off ${fmt(report.standbyOff.startedEventMs)}`
  )
  console.log(`  on/off per round, median: ${report.pairedRatioMedian.toFixed(2)}`)
  console.log(
    `  target median ≤ ${TARGET_MS} ms with standby: ${report.standbyOn.gapMs.median <= TARGET_MS ? "met" : "missed"}`
  )
  await mkdir(RESULTS_DIR, { recursive: true })
  const file = join(RESULTS_DIR, `standby-${report.date.replace(/:/g, "-").replace(/\.\d+Z$/, "Z")}.json`)
  await writeFile(file, `${JSON.stringify(report, null, 2)}\n`)
  console.log(`wrote ${file}`)
  console.log(`wrote ${await writeSection("standby-restart", section(report, file.replace(`${ROOT}/`, "")))}`)
  for (const c of clients.values()) await c.close()
  await nc.close()
  await stopAll()
  await nats.stop()
}

main().catch(async (error) => {
  console.error(error)
  await stopAll()
  process.exit(1)
})
