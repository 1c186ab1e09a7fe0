// The actor's per-request cost with a canary, in one process with the real Iris model and no socket: the
// request path (decode, checks, batching, the model, reply encoding) with no canary, a canary answering nothing,
// and that canary shadowing every request; ns of this process's CPU per request, interleaved rounds.
//   npm run build && npx tsx bench/canaryHotPath.ts [--rounds=6] [--requests=20000] [--concurrency=16]
import type { Msg } from "@nats-io/transport-node"
import { Effect } from "effect"
import { makeAdmission } from "../src/actors/admission.js"
import { makeBatcher } from "../src/actors/batcher.js"
import { makeLiveCanary, shadowed } from "../src/actors/canary/live.js"
import { makeShadowRunner } from "../src/actors/canary/shadow.js"
import { makeModelLoop } from "../src/actors/modelLoop.js"
import { answerInfer, type PipelineContext } from "../src/actors/pipeline.js"
import { servingModel, servingVersion } from "../src/actors/servingModel.js"
import { type ActorStats, actorStats } from "../src/actors/stats.js"
import { loadModel } from "../src/model/loader.js"
import { initRuntime } from "../src/model/runtime.js"
import { encodeRequest } from "../src/protocol/codec.js"
import type { CanaryState } from "../src/registry/canaryState.js"
import { spreadOf } from "./lib/interleave.js"
import { IRIS_MODEL_DIR } from "./lib/paths.js"

const arg = (name: string, fallback: number) =>
  Number(process.argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3) ?? fallback)
const ROUNDS = arg("rounds", 6)
const REQUESTS = arg("requests", 20_000)
const CONCURRENCY = arg("concurrency", 16)

await Effect.runPromise(initRuntime("wasm"))
const stable = await Effect.runPromise(loadModel(IRIS_MODEL_DIR))
const candidateModel = await Effect.runPromise(loadModel(IRIS_MODEL_DIR))

const state = (shadow: number): CanaryState => ({
  id: "bench",
  model: "iris",
  stable: 1,
  candidate: {
    version: 2,
    digest: `sha256:${"0".repeat(64)}`,
    format: "layers",
    signature: stable.signature,
    createdAt: new Date().toISOString(),
    source: "bench",
    size: 0
  },
  percent: 0,
  shadow,
  startedAt: new Date().toISOString(),
  phase: "running"
})

type Setup = "none" | "canary" | "shadow"
const body = encodeRequest([[5.1, 3.5, 1.4, 0.2]], undefined, "msgpack")

/** CPU µs of this process per request, `CONCURRENCY` requests at a time; waits for the shadow runs to finish. */
const run = async (setup: Setup): Promise<{ cpuUs: number; shadowed: number }> => {
  const stats: ActorStats = actorStats()
  const serving = servingModel(stable, 1)
  const admission = makeAdmission(1 << 20)
  const batcher = makeBatcher(stats, { maxBatchSize: 256, maxDelayMs: 0 })
  const loop = makeModelLoop(
    { actorId: "bench-1", modelName: "iris", serving, stats, admission, logDefect: (m) => console.error(m) },
    batcher
  )
  const ctx: PipelineContext = {
    actorId: "bench-1",
    serving,
    maxPayloadBytes: 1 << 20,
    admission,
    loop,
    stats
  }
  let compared = 0
  let drained: (() => void) | undefined
  if (setup !== "none") {
    const candidate = servingVersion(candidateModel, 2, true)
    const canary = makeLiveCanary(state(setup === "shadow" ? 100 : 0), candidate, () => {})
    canary.shadow = makeShadowRunner({
      candidate,
      whenIdle: loop.whenIdle,
      maxRows: () => 256,
      minRows: () => 128,
      maxWaitMs: 50,
      capacity: 1024,
      onResult: (o) => {
        shadowed(canary, o)
        compared++
        if (canary.shadow?.waiting() === 0) drained?.()
      }
    })
    serving.canary = canary
  }
  const msg = { subject: "modelbus.infer.iris", reply: "_INBOX.x", data: body, respond: () => true } as unknown as Msg
  const cpu0 = process.cpuUsage()
  for (let sent = 0; sent < REQUESTS; sent += CONCURRENCY) {
    const idle = new Promise<void>((resolve) => {
      const stop = admission.onIdle(() => {
        stop()
        resolve()
      })
    })
    for (let i = 0; i < CONCURRENCY; i++) answerInfer(ctx, msg)
    await idle
  }
  if (setup === "shadow" && serving.canary?.shadow?.waiting() !== 0)
    await new Promise<void>((resolve) => (drained = resolve))
  const cpu = process.cpuUsage(cpu0)
  return { cpuUs: (cpu.user + cpu.system) / REQUESTS, shadowed: compared }
}

const setups: ReadonlyArray<Setup> = ["none", "canary", "shadow"]
for (const s of setups) await run(s)
const figures: Record<Setup, Array<number>> = { none: [], canary: [], shadow: [] }
for (let round = 0; round < ROUNDS; round++) {
  const order = round % 2 === 0 ? setups : [...setups].reverse()
  for (const s of order) {
    const r = await run(s)
    figures[s].push(r.cpuUs)
    console.log(`round ${round + 1} ${s.padEnd(6)} ${r.cpuUs.toFixed(2)} µs CPU/request (shadowed ${r.shadowed})`)
  }
}
for (const s of setups) console.log(`${s}: median ${spreadOf(figures[s]).median.toFixed(2)} µs CPU/request`)
