// The longest ONNX Runtime call a replica survives: run() blocks the actor's event loop, so no heartbeat
// leaves while it computes. Calls of growing length (a Loop model whose run time is an input), each timed on a
// patient replica and then sent to one with a short hang timeout: kept or killed. Writes its BENCHMARKS.md section.
//   npm run build && npx tsx bench/onnxHang.ts [--hang-ms=3000] [--heartbeat-ms=500]
import { execFileSync } from "node:child_process"
import { mkdtemp, writeFile } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join, relative } from "node:path"
import { connect } from "@nats-io/transport-node"
import { Effect } from "effect"
import { Packr } from "msgpackr"
import { writeOnnxModel } from "../test/helpers/onnx/builder.js"
import { slowModel } from "../test/helpers/onnx/fixtures.js"
import { killAllNow, spawnCli, stopAll } from "./lib/children.js"
import { describeMachine } from "./lib/machine.js"
import { dist, ROOT } from "./lib/paths.js"
import { writeResultJson } from "./lib/report.js"
import { writeSection } from "./lib/sections.js"

const option = (name: string) => process.argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3)
const HANG_MS = Number(option("hang-ms") ?? 3_000)
const HEARTBEAT_MS = Number(option("heartbeat-ms") ?? 500)
/** Call lengths tried, as fractions of the hang timeout (of this process's CPU time when calibrated). */
const FRACTIONS = [0.5, 0.6, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95, 1.0, 1.1, 1.25]

process.on("exit", () => killAllNow())

const packr = new Packr({ useRecords: false, mapsAsObjects: true, moreTypes: false })
const body = (iterations: number) =>
  packr.pack({
    inputs: {
      iterations: { dtype: "int64", shape: [], data: new Uint8Array(BigInt64Array.from([BigInt(iterations)]).buffer) },
      x: { dtype: "float32", shape: [1, 64], data: new Uint8Array(new Float32Array(64).fill(0.1).buffer) }
    }
  })

const main = async () => {
  const machine = describeMachine()
  const dir = await writeOnnxModel(join(await mkdtemp(join(tmpdir(), "modelbus-hang-bench-")), "slow"), slowModel())
  const { loadModel } = await dist.loader()
  const model = await Effect.runPromise(loadModel(dir))
  const probe = 50_000
  const inputs = {
    iterations: { dtype: "int64" as const, shape: [], data: BigInt64Array.from([BigInt(probe)]) },
    x: { dtype: "float32" as const, shape: [1, 64], data: new Float32Array(64).fill(0.1) }
  }
  let msPerIteration = Number.POSITIVE_INFINITY
  for (let i = 0; i < 3; i++) {
    const start = performance.now()
    await model.predict(inputs)
    msPerIteration = Math.min(msPerIteration, (performance.now() - start) / probe)
  }
  model.dispose()
  const { startLocalNatsServer } = await dist.natsServer()
  const nats = await startLocalNatsServer({ jetstream: false })
  const config = join(dir, "..", "hang.json")
  await writeFile(
    config,
    JSON.stringify({
      registry: { mode: "off" },
      supervisor: { intensity: 100, period: 1 },
      models: ["slow", "patient"].map((name) => ({
        name,
        path: dir,
        heartbeatMs: HEARTBEAT_MS,
        hangTimeoutMs: name === "slow" ? HANG_MS : 120_000,
        backoff: { initialMs: 0, maxMs: 0 },
        supervisor: { intensity: 100, period: 1 }
      }))
    })
  )
  const supervisor = spawnCli(["supervise", "--config", config, "--server", nats.url], "supervisor")
  await supervisor.waitForLine(/modelbus ready/, 120_000)
  const { connect: connectClient } = await dist.client()
  const client = await connectClient({ servers: nats.url })
  const nc = await connect({ servers: nats.url })
  const replica = async () => (await client.status()).flatMap((s) => s.actors).find((a) => a.model === "slow")
  const patient = async () => (await client.status()).flatMap((s) => s.actors).find((a) => a.model === "patient")
  const serving = async () => {
    for (;;) {
      const [r, p] = await Promise.all([replica(), patient()])
      if (p?.state !== "serving") {
        await new Promise((resolve) => setTimeout(resolve, 100))
        continue
      }
      if (r?.state === "serving" && r.pid !== null) return r
      await new Promise((resolve) => setTimeout(resolve, 100))
    }
  }
  const calls: Array<{ targetMs: number; lengthMs: number; wallMs: number; survived: boolean }> = []
  try {
    for (const fraction of FRACTIONS) {
      const before = await serving()
      const targetMs = fraction * HANG_MS
      // the machine's speed drifts (a shared host): each call is sized from the last one timed
      const iterations = Math.round(targetMs / msPerIteration)
      // the call's length, taken from the same call on a replica that waits two minutes before judging it hung
      const timed = performance.now()
      await nc.request("modelbus.infer.patient", body(iterations), { timeout: 120_000 })
      const lengthMs = performance.now() - timed
      msPerIteration = lengthMs / iterations
      const sent = performance.now()
      const answered = await nc
        .request("modelbus.infer.slow", body(iterations), { timeout: HANG_MS * 4 })
        .then(() => true)
        .catch(() => false)
      const wallMs = performance.now() - sent
      // a replica's next heartbeat (or its absence) settles it
      await new Promise((resolve) => setTimeout(resolve, HEARTBEAT_MS * 2))
      const after = await serving()
      const survived = answered && after.pid === before.pid
      calls.push({ targetMs, lengthMs, wallMs, survived })
      console.log(
        `call of ${lengthMs.toFixed(0)} ms (asked ~${targetMs.toFixed(0)} ms): ${answered ? `answered in ${wallMs.toFixed(0)} ms` : "no answer"}, replica ${survived ? "kept" : "killed and replaced"}`
      )
    }
  } finally {
    await client.close()
    await nc.close()
    await supervisor.stop()
    await stopAll()
    await nats.stop()
  }
  const uptime = execFileSync("uptime", { encoding: "utf8" }).trim()
  const kept = calls.filter((c) => c.survived)
  const killed = calls.filter((c) => !c.survived)
  const longestKept = Math.max(...kept.map((c) => c.wallMs))
  const shortestKilled = Math.min(...killed.map((c) => c.lengthMs))
  const figures = { machine, uptime, hangMs: HANG_MS, heartbeatMs: HEARTBEAT_MS, msPerIteration, calls }
  const file = await writeResultJson("onnx-hang", figures)
  const section = [
    "## Long ONNX Runtime calls and hang detection",
    "",
    `\`npx tsx bench/onnxHang.ts\`, ${machine.date}: ${machine.cpu}, ${machine.cores} cores, Node ${machine.node}; \`uptime\` at the end: ${uptime}.`,
    "",
    `A \`Loop\` model whose run time is an input, served by a replica with \`hangTimeoutMs\` ${HANG_MS} and \`heartbeatMs\` ${HEARTBEAT_MS}. ` +
      "Calls of growing length, one at a time: each is first timed on a patient replica of the same model (its length: wall time " +
      "as the caller saw it, on a shared host), then sent to the strict replica, which answers and stays, or is killed as hung and replaced:",
    "",
    "| call's length on the patient replica (ms) | strict replica answered after (ms) | strict replica |",
    "| --- | --- | --- |",
    ...calls.map(
      (c) =>
        `| ${c.lengthMs.toFixed(0)} | ${c.survived ? c.wallMs.toFixed(0) : "no answer"} | ${c.survived ? "kept" : "killed, replaced"} |`
    ),
    "",
    `Longest call a replica survived: ${Number.isFinite(longestKept) ? longestKept.toFixed(0) : "none"} ms; shortest that got it killed: ` +
      `${Number.isFinite(shortestKilled) ? `~${shortestKilled.toFixed(0)}` : "none"} ms. The guaranteed bound is \`hangTimeoutMs − heartbeatMs\` ` +
      `(${HANG_MS - HEARTBEAT_MS} ms here; 29 000 ms with the defaults): a call that starts just before a heartbeat is due leaves a gap of its ` +
      "length plus one interval. Figures: `" +
      relative(ROOT, file) +
      "`."
  ].join("\n")
  console.log(`\n${section}\n`)
  console.log(`wrote ${await writeSection("onnx-hang", section)}`)
}

await main()
