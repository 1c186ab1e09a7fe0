// What metrics cost the hot path: two supervisors of the Iris model on one nats-server, one with
// --metrics-port (its actors measure and report), one without, driven in interleaved blocks (ABBA).
//   npm run build && npx tsx bench/metricsAb.ts [--rounds=4] [--requests=20000] [--c1=1000]
import { connect } from "@nats-io/transport-node"
import { killAllNow, spawnCli, stopAll } from "./lib/children.js"
import { MuxedClient } from "./lib/muxedClient.js"
import { dist, IRIS_MODEL_DIR } from "./lib/paths.js"
import { sampleProcess } from "./lib/procStats.js"

const arg = (name: string, fallback: number) =>
  Number(process.argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3) ?? fallback)
const ROUNDS = arg("rounds", 4)
const REQUESTS = arg("requests", 20_000)
const C1_REQUESTS = arg("c1", 1_000)
const CONCURRENCY = 64

process.on("exit", () => killAllNow())
let stopNats: () => Promise<void> = async () => {}
for (const signal of ["SIGINT", "SIGTERM"] as const)
  process.once(signal, () => void Promise.all([stopAll(), stopNats()]).finally(() => process.exit(130)))

const median = (xs: ReadonlyArray<number>) => {
  const s = [...xs].sort((a, b) => a - b)
  return s.length % 2 === 1 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2
}

const main = async () => {
  const { startLocalNatsServer } = await dist.natsServer()
  const { encodeRequest } = await dist.codec()
  const nats = await startLocalNatsServer()
  stopNats = nats.stop
  const variants = [
    { id: "off", prefix: "aboff", args: [] as Array<string> },
    { id: "on", prefix: "abon", args: ["--metrics-port", "0"] }
  ] as const
  const { writeFile, mkdtemp } = await import("node:fs/promises")
  const { join } = await import("node:path")
  const { tmpdir } = await import("node:os")
  const dir = await mkdtemp(join(tmpdir(), "modelbus-ab-"))
  const supervisors = []
  for (const v of variants) {
    const file = join(dir, `${v.id}.json`)
    await writeFile(file, JSON.stringify({ prefix: v.prefix, models: [{ name: "iris", path: IRIS_MODEL_DIR }] }))
    const s = spawnCli(["supervise", "--config", file, "--server", nats.url, ...v.args], `supervisor ${v.id}`, {
      MODELBUS_BACKEND: "wasm"
    })
    await s.waitForLine(/modelbus ready/, 90_000)
    supervisors.push(s)
  }
  const { connect: connectClient } = await dist.client()
  /** The pid of the one actor of a variant, from its supervisor's status. */
  const actorPid = async (prefix: string) => {
    const c = await connectClient({ servers: nats.url, prefix })
    const pid = (await c.status()).flatMap((st) => st.actors).find((a) => a.pid !== null)?.pid
    await c.close()
    if (pid == null) throw new Error(`no actor under ${prefix}`)
    return pid
  }
  const pids = { off: await actorPid("aboff"), on: await actorPid("abon") }
  const cpu = (pid: number) => sampleProcess(pid)?.cpuSeconds ?? Number.NaN
  const nc = await connect({ servers: nats.url })
  const client = new MuxedClient(nc, 30_000)
  const body = encodeRequest([[5.1, 3.5, 1.4, 0.2]], undefined, "msgpack")

  /** Requests per second at c = 64 over `REQUESTS` requests. */
  const throughput = async (subject: string) => {
    let sent = 0
    const t0 = performance.now()
    await Promise.all(
      Array.from({ length: CONCURRENCY }, async () => {
        while (sent < REQUESTS) {
          sent++
          await client.request(subject, body)
        }
      })
    )
    return REQUESTS / ((performance.now() - t0) / 1000)
  }
  /** Median round trip (ms) at c = 1. */
  const c1 = async (subject: string) => {
    const times: Array<number> = []
    for (let i = 0; i < C1_REQUESTS; i++) {
      const t0 = performance.now()
      await client.request(subject, body)
      times.push(performance.now() - t0)
    }
    return median(times)
  }

  const results: Record<"off" | "on", { rps: Array<number>; c1: Array<number>; cpuUs: Array<number> }> = {
    off: { rps: [], c1: [], cpuUs: [] },
    on: { rps: [], c1: [], cpuUs: [] }
  }
  for (const v of variants) {
    // warm-up: JIT, WASM, NATS routes
    await throughput(`${v.prefix}.infer.iris`)
    await c1(`${v.prefix}.infer.iris`)
  }
  for (let round = 0; round < ROUNDS; round++) {
    const order = round % 2 === 0 ? variants : [...variants].reverse()
    for (const v of order) {
      const subject = `${v.prefix}.infer.iris`
      const cpuBefore = cpu(pids[v.id])
      const rps = await throughput(subject)
      const cpuUs = ((cpu(pids[v.id]) - cpuBefore) * 1e6) / REQUESTS
      const ms = await c1(subject)
      results[v.id].rps.push(rps)
      results[v.id].c1.push(ms)
      results[v.id].cpuUs.push(cpuUs)
      console.log(
        `round ${round + 1} ${v.id.padEnd(3)}  c=64 ${rps.toFixed(0).padStart(6)} req/s, actor ${cpuUs.toFixed(1)} µs CPU/request   c=1 median ${ms.toFixed(3)} ms`
      )
    }
  }
  const rpsOff = median(results.off.rps)
  const rpsOn = median(results.on.rps)
  const c1Off = median(results.off.c1)
  const c1On = median(results.on.c1)
  // each round's on and off blocks ran back to back: their ratio cancels most of the drift of a shared machine
  const pct = (x: number) => `${(100 * x).toFixed(1)} %`
  const rpsCost = median(results.on.rps.map((on, i) => 1 - on / results.off.rps[i]!))
  const c1Cost = median(results.on.c1.map((on, i) => on / results.off.c1[i]! - 1))
  console.log(
    `\nmedians of ${ROUNDS} blocks each: c=64 off ${rpsOff.toFixed(0)} req/s, on ${rpsOn.toFixed(0)} req/s; ` +
      `c=1 median off ${c1Off.toFixed(3)} ms, on ${c1On.toFixed(3)} ms`
  )
  console.log(
    `cost of metrics, median of the ${ROUNDS} paired rounds: c=64 throughput ${pct(rpsCost)}, c=1 latency ${pct(c1Cost)}`
  )
  const cpuOff = median(results.off.cpuUs)
  const cpuOn = median(results.on.cpuUs)
  console.log(
    `actor CPU per request at c=64 (median): off ${cpuOff.toFixed(1)} µs, on ${cpuOn.toFixed(1)} µs (${pct(cpuOn / cpuOff - 1)})`
  )
  client.close()
  await nc.close()
  await stopAll()
  await nats.stop()
}

main().catch(async (error) => {
  console.error(error)
  await stopAll()
  process.exit(1)
})
