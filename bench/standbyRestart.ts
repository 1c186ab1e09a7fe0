// Warm standby, measured: SIGKILL of a one-replica Iris model's actor → the next successful reply, with a
// standby (default) and without (`supervisor.standby: 0`), on two supervisors of one nats-server, killed
// in interleaved order (on, off, off, on, …), beside the model's load time the actors report.
//   npm run build && npx tsx bench/standbyRestart.ts [--kills=12]
import { mkdir, mkdtemp, writeFile } from "node:fs/promises"
import { cpus, tmpdir } from "node:os"
import { join } from "node:path"
import { connect, type NatsConnection } from "@nats-io/transport-node"
import type { Client } from "../src/client/index.js"
import { adopt, killAllNow, spawnCli, stopAll } from "./lib/children.js"
import { dist, IRIS_MODEL_DIR, RESULTS_DIR } from "./lib/paths.js"

const arg = (name: string, fallback: number) =>
  Number(process.argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3) ?? fallback)
const KILLS = arg("kills", 12)
/** Between failed attempts of the probe: short enough to see the gap to a few ms, long enough not to eat the CPU the restart needs. */
const PROBE_PAUSE_MS = 5
/** A probe sent while the killed process's connection is still open is lost: it is given up after this long. */
const PROBE_TIMEOUT_MS = 200
/** The restart's own target (issue 12). */
const TARGET_MS = 250

process.on("exit", () => killAllNow())
let stopNats: () => Promise<void> = async () => {}
for (const signal of ["SIGINT", "SIGTERM"] as const)
  process.once(signal, () => void Promise.all([stopAll(), stopNats()]).finally(() => process.exit(130)))

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))
const quantile = (xs: ReadonlyArray<number>, q: number) => {
  const s = [...xs].sort((a, b) => a - b)
  if (s.length === 0) return Number.NaN
  const i = (s.length - 1) * q
  const lo = Math.floor(i)
  return s[lo]! + (s[Math.ceil(i)]! - s[lo]!) * (i - lo)
}
const summary = (xs: ReadonlyArray<number>) => ({
  n: xs.length,
  median: quantile(xs, 0.5),
  p10: quantile(xs, 0.1),
  p90: quantile(xs, 0.9),
  min: Math.min(...xs),
  max: Math.max(...xs)
})
const fmt = (s: ReturnType<typeof summary>) =>
  `median ${s.median.toFixed(0)} ms (p10 ${s.p10.toFixed(0)}, p90 ${s.p90.toFixed(0)}, min ${s.min.toFixed(0)}, max ${s.max.toFixed(0)}; n=${s.n})`

interface Variant {
  readonly id: "on" | "off"
  readonly prefix: string
  readonly standby: number
  readonly gapsMs: Array<number>
  readonly loadMs: Array<number>
  /** pids that served after a kill: the standby's (on) or a fresh fork's. */
  readonly fromStandby: Array<boolean>
}

const main = async () => {
  const { startLocalNatsServer } = await dist.natsServer()
  const { encodeRequest } = await dist.codec()
  const { connect: connectClient } = await dist.client()
  const nats = await startLocalNatsServer()
  stopNats = nats.stop
  const dir = await mkdtemp(join(tmpdir(), "modelbus-standby-bench-"))
  const variants: Array<Variant> = [
    { id: "on", prefix: "sbon", standby: 1, gapsMs: [], loadMs: [], fromStandby: [] },
    { id: "off", prefix: "sboff", standby: 0, gapsMs: [], loadMs: [], fromStandby: [] }
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
  const loadTimes = new Map<string, Array<number>>()
  for (const v of variants) {
    loadTimes.set(v.id, [])
    nc.subscribe(`${v.prefix}.events.iris`, {
      callback: (error, msg) => {
        if (error !== null) return
        const event = msg.json<{ type: string; loadMs?: number }>()
        if (event.type === "started" && event.loadMs !== undefined) loadTimes.get(v.id)!.push(event.loadMs)
      }
    })
  }

  /** Kills the replica and returns ms from the SIGKILL to the first successful reply. */
  const killAndProbe = async (v: Variant) => {
    const before = await settled(v)
    adopt(before.pid)
    if (before.standby !== undefined) adopt(before.standby)
    await sleep(300) // the last status poll's traffic is over
    const subject = `${v.prefix}.infer.iris`
    const killedAt = performance.now()
    process.kill(before.pid, "SIGKILL")
    for (;;) {
      try {
        await nc.request(subject, body, { timeout: PROBE_TIMEOUT_MS })
        break
      } catch {
        await sleep(PROBE_PAUSE_MS)
      }
    }
    const gap = performance.now() - killedAt
    const after = await settled(v, before.pid)
    adopt(after.pid)
    v.gapsMs.push(gap)
    v.fromStandby.push(after.pid === before.standby)
    return { gap, fromStandby: after.pid === before.standby }
  }

  // one unmeasured kill each: the first restart also warms the supervisor's code paths
  for (const v of variants) await killAndProbe(v)
  for (const v of variants) {
    v.gapsMs.length = 0
    v.fromStandby.length = 0
  }
  const loadsBefore = new Map(variants.map((v) => [v.id, loadTimes.get(v.id)!.length]))

  for (let round = 0; round < KILLS; round++) {
    const order = round % 2 === 0 ? variants : [...variants].reverse()
    for (const v of order) {
      const { gap, fromStandby } = await killAndProbe(v)
      console.log(
        `kill ${String(round + 1).padStart(2)} standby ${v.id.padEnd(3)}  next reply after ${gap.toFixed(0).padStart(5)} ms${fromStandby ? "  (the standby took the slot)" : ""}`
      )
    }
  }
  for (const v of variants) v.loadMs.push(...loadTimes.get(v.id)!.slice(loadsBefore.get(v.id)!))

  const on = variants[0]!
  const off = variants[1]!
  const report = {
    date: new Date().toISOString(),
    machine: { cores: cpus().length, cpu: cpus()[0]?.model, node: process.version },
    kills: KILLS,
    probePauseMs: PROBE_PAUSE_MS,
    probeTimeoutMs: PROBE_TIMEOUT_MS,
    targetMs: TARGET_MS,
    standbyOn: {
      gapMs: summary(on.gapsMs),
      loadMs: summary(on.loadMs),
      servedByStandby: on.fromStandby.filter(Boolean).length,
      raw: on.gapsMs
    },
    standbyOff: { gapMs: summary(off.gapsMs), loadMs: summary(off.loadMs), raw: off.gapsMs },
    pairedRatioMedian: quantile(
      on.gapsMs.map((g, i) => g / off.gapsMs[i]!),
      0.5
    )
  }
  console.log(`\nSIGKILL → next successful reply, one-replica Iris (WASM), ${KILLS} kills each, interleaved:`)
  console.log(
    `  standby on : ${fmt(report.standbyOn.gapMs)}; the standby took the slot ${report.standbyOn.servedByStandby}/${KILLS}`
  )
  console.log(`  standby off: ${fmt(report.standbyOff.gapMs)}`)
  console.log(
    `  model load time (loadMs the new actor reports): on ${fmt(report.standbyOn.loadMs)}; off ${fmt(report.standbyOff.loadMs)}`
  )
  console.log(`  on/off per round, median: ${report.pairedRatioMedian.toFixed(2)}`)
  console.log(
    `  target median ≤ ${TARGET_MS} ms with standby: ${report.standbyOn.gapMs.median <= TARGET_MS ? "met" : "missed"}`
  )
  await mkdir(RESULTS_DIR, { recursive: true })
  const file = join(RESULTS_DIR, `standby-${report.date.replace(/:/g, "-").replace(/\.\d+Z$/, "Z")}.json`)
  await writeFile(file, `${JSON.stringify(report, null, 2)}\n`)
  console.log(`wrote ${file}`)
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
