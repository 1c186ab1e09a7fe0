// What NATS micro discovery and Prometheus metrics cost the hot path: Iris supervisors on one nats-server
// (this build without and with --metrics-port; optionally a build from before either existed), interleaved.
//   npm run build && npx tsx bench/observability.ts [--baseline=DIR] [--rounds=8] [--requests=20000] [--c1=1000]
// DIR is a built checkout of an earlier commit (its dist/ and node_modules/), e.g. 99ceadb, the last before NATS micro and metrics.
import { mkdtemp, writeFile } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join, resolve } from "node:path"
import { connect } from "@nats-io/transport-node"
import { killAllNow, spawnCli, stopAll } from "./lib/children.js"
import { interleave, pairedRatios, type Spread, spreadOf } from "./lib/interleave.js"
import { describeMachine } from "./lib/machine.js"
import { MuxedClient } from "./lib/muxedClient.js"
import { dist, IRIS_MODEL_DIR, ROOT } from "./lib/paths.js"
import { sampleProcess } from "./lib/procStats.js"
import { writeResultJson } from "./lib/report.js"
import { writeSection } from "./lib/sections.js"

const option = (name: string) => process.argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3)
const ROUNDS = Number(option("rounds") ?? 8)
const REQUESTS = Number(option("requests") ?? 20_000)
const C1_REQUESTS = Number(option("c1") ?? 1_000)
const BASELINE = option("baseline")
const CONCURRENCY = 64

type Variant = "before" | "micro" | "micro+metrics"
const VARIANTS: Record<Variant, { readonly label: string; readonly root: string; readonly args: Array<string> }> = {
  before: { label: "before micro and metrics (neither)", root: resolve(BASELINE ?? "."), args: [] },
  micro: { label: "this build, micro on, metrics off", root: ROOT, args: [] },
  "micro+metrics": { label: "this build, micro and metrics on", root: ROOT, args: ["--metrics-port", "0"] }
}
const prefixOf = (v: Variant) => `ab${v.replace("+", "")}`

process.on("exit", () => killAllNow())
let stopNats: () => Promise<void> = async () => {}
for (const signal of ["SIGINT", "SIGTERM"] as const)
  process.once(signal, () => void Promise.all([stopAll(), stopNats()]).finally(() => process.exit(130)))

type Figure = { readonly rps: number; readonly c1Ms: number; readonly actorCpuUs: number }

const main = async () => {
  const variants: Array<Variant> =
    BASELINE === undefined ? ["micro", "micro+metrics"] : ["before", "micro", "micro+metrics"]
  const { startLocalNatsServer } = await dist.natsServer()
  const { encodeRequest } = await dist.codec()
  const { connect: connectClient } = await dist.client()
  const nats = await startLocalNatsServer()
  stopNats = nats.stop
  const dir = await mkdtemp(join(tmpdir(), "modelbus-ab-"))
  const pids = {} as Record<Variant, number>
  for (const v of variants) {
    const file = join(dir, `${prefixOf(v)}.json`)
    await writeFile(file, JSON.stringify({ prefix: prefixOf(v), models: [{ name: "iris", path: IRIS_MODEL_DIR }] }))
    const cli = join(VARIANTS[v].root, "dist/cli/main.js")
    const s = spawnCli(
      ["supervise", "--config", file, "--server", nats.url, ...VARIANTS[v].args],
      v,
      {
        MODELBUS_BACKEND: "wasm"
      },
      cli
    )
    await s.waitForLine(/modelbus ready/, 90_000)
    const c = await connectClient({ servers: nats.url, prefix: prefixOf(v) })
    const pid = (await c.status()).flatMap((st) => st.actors).find((a) => a.pid !== null)?.pid
    await c.close()
    if (pid == null) throw new Error(`no actor under ${prefixOf(v)}`)
    pids[v] = pid
  }
  const nc = await connect({ servers: nats.url })
  const client = new MuxedClient(nc, 30_000)
  const body = encodeRequest([[5.1, 3.5, 1.4, 0.2]], undefined, "msgpack")
  const cpu = (pid: number) => sampleProcess(pid)?.cpuSeconds ?? Number.NaN

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
  const c1 = async (subject: string) => {
    const times: Array<number> = []
    for (let i = 0; i < C1_REQUESTS; i++) {
      const t0 = performance.now()
      await client.request(subject, body)
      times.push(performance.now() - t0)
    }
    return spreadOf(times).median
  }
  for (const v of variants) {
    await throughput(`${prefixOf(v)}.infer.iris`)
    await c1(`${prefixOf(v)}.infer.iris`)
  }
  const figures = await interleave<Variant, Figure>(
    variants,
    ROUNDS,
    async (v) => {
      const subject = `${prefixOf(v)}.infer.iris`
      const before = cpu(pids[v])
      const rps = await throughput(subject)
      const actorCpuUs = ((cpu(pids[v]) - before) * 1e6) / REQUESTS
      return { rps, actorCpuUs, c1Ms: await c1(subject) }
    },
    (v, round, f) =>
      console.log(
        `round ${round + 1} ${v.padEnd(13)} c=64 ${f.rps.toFixed(0).padStart(6)} req/s, actor ${f.actorCpuUs.toFixed(1)} µs CPU/request   c=1 median ${f.c1Ms.toFixed(3)} ms`
      )
  )
  client.close()
  await nc.close()
  await stopAll()
  await nats.stop()

  const series = (v: Variant, k: keyof Figure) => figures[v].map((f) => f[k])
  const compare = (a: Variant, b: Variant) => ({
    rps: spreadOf(pairedRatios(series(a, "rps"), series(b, "rps"))),
    c1: spreadOf(pairedRatios(series(a, "c1Ms"), series(b, "c1Ms"))),
    cpu: spreadOf(pairedRatios(series(a, "actorCpuUs"), series(b, "actorCpuUs")))
  })
  const pairs: Array<[Variant, Variant, string]> = [
    ...(variants.includes("before")
      ? ([
          ["micro", "before", "micro (and the rest of this build) vs before"],
          ["micro+metrics", "before", "micro and metrics vs before"]
        ] as Array<[Variant, Variant, string]>)
      : []),
    ["micro+metrics", "micro", "metrics on vs off"]
  ]
  const results = {
    machine: describeMachine(),
    rounds: ROUNDS,
    requests: REQUESTS,
    c1Requests: C1_REQUESTS,
    baseline: BASELINE,
    figures,
    comparisons: pairs.map(([a, b, what]) => ({ a, b, what, ...compare(a, b) }))
  }
  const json = await writeResultJson("observability", results)
  const f = (x: number, d = 3) => x.toFixed(d)
  const range = (s: Spread, d = 3) => `${f(s.median, d)} (${f(s.min, d)}–${f(s.max, d)})`
  const pct = (s: Spread) => `${((s.median - 1) * 100).toFixed(1)} %`
  const section = [
    "## Hot path with NATS micro and metrics on vs off",
    "",
    `Run by \`npx tsx bench/observability.ts${BASELINE === undefined ? "" : " --baseline=DIR"}\` on ${results.machine.date} (Node.js ${results.machine.node}); raw figures in \`${json.replace(`${ROOT}/`, "")}\`.`,
    `One nats-server; one Iris actor (WASM, batching on) per variant, each under its own supervisor and prefix. ${ROUNDS} rounds; in each, every variant in turn (rotating order): ${REQUESTS.toLocaleString("en-US")} requests at c=64 from a muxed-inbox client, then ${C1_REQUESTS.toLocaleString("en-US")} sequential requests (c=1). Ratios are taken within a round and reported as the median of the rounds (min–max).`,
    BASELINE === undefined
      ? ""
      : "`before` is the build of the commit before NATS micro and metrics (no micro endpoint, no measurements), run from its own checkout.",
    "",
    "| variant | c=64 req/s (median of rounds) | c=1 median ms | actor CPU µs/request |",
    "| --- | --- | --- | --- |",
    ...variants.map(
      (v) =>
        `| ${VARIANTS[v].label} | ${spreadOf(series(v, "rps")).median.toFixed(0)} | ${f(spreadOf(series(v, "c1Ms")).median)} | ${f(spreadOf(series(v, "actorCpuUs")).median, 1)} |`
    ),
    "",
    "| comparison | throughput ratio | c=1 latency ratio | actor CPU ratio | throughput cost (target ≤ 3 %) |",
    "| --- | --- | --- | --- | --- |",
    ...results.comparisons.map(
      (c) =>
        `| ${c.what} | ${range(c.rps)} | ${range(c.c1)} | ${range(c.cpu)} | ${(100 * (1 - c.rps.median)).toFixed(1)} % ${1 - c.rps.median <= 0.03 ? "(met)" : "(missed)"}; latency ${pct(c.c1)} |`
    )
  ].join("\n")
  console.log(`\n${section}`)
  console.log(`\nwrote ${await writeSection("observability", section)} and ${json}`)
}

main().catch(async (error) => {
  console.error(error)
  await stopAll()
  process.exit(1)
})
