// The actor's own per-request code with metrics on vs off, in one process and without a model or a
// socket: admission, decode, checks, batching, reply encoding and (on) the measurements, in ns/request.
//   npx tsx bench/metricsHotPath.ts [--rounds=10] [--requests=200000]
import type { Msg } from "@nats-io/transport-node"
import { makeAdmission } from "../src/actors/admission.js"
import { makeBatcher } from "../src/actors/batcher.js"
import { makeMeasurements } from "../src/actors/measurements.js"
import { makeModelLoop } from "../src/actors/modelLoop.js"
import { answerInfer, type PipelineContext } from "../src/actors/pipeline.js"
import { servingModel } from "../src/actors/servingModel.js"
import { type ActorStats, actorStats } from "../src/actors/stats.js"
import type { LoadedModel } from "../src/model/loader.js"
import { encodeRequest } from "../src/protocol/codec.js"
import type { HostTensor } from "../src/protocol/tensor.js"

const arg = (name: string, fallback: number) =>
  Number(process.argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3) ?? fallback)
const ROUNDS = arg("rounds", 10)
const REQUESTS = arg("requests", 200_000)

/** The Iris signature, computed as a constant: the model's arithmetic is not what is measured. */
const model: LoadedModel = {
  signature: {
    format: "layers",
    inputs: [{ name: "x", dtype: "float32", shape: [null, 4] }],
    outputs: [{ name: "y", dtype: "float32", shape: [null, 3] }]
  },
  weights: () => [],
  predict: async (inputs) => {
    const rows = inputs.x!.shape[0]!
    const y: HostTensor = { dtype: "float32", shape: [rows, 3], data: new Float32Array(rows * 3).fill(1 / 3) }
    return { y }
  },
  dispose: () => {}
}

const body = encodeRequest([[5.1, 3.5, 1.4, 0.2]], undefined, "msgpack")

/** Runs `REQUESTS` requests `concurrency` at a time through a fresh actor pipeline; ns per request. */
const run = async (metrics: boolean, concurrency: number): Promise<number> => {
  const stats: ActorStats = actorStats()
  const measure = metrics ? makeMeasurements() : undefined
  const serving = servingModel(model, 1)
  const admission = makeAdmission(1 << 20)
  const loop = makeModelLoop(
    {
      actorId: "bench-1",
      modelName: "iris",
      stats,
      measure,
      admission,
      logDefect: (message, cause) => console.error(message, cause)
    },
    makeBatcher(stats, { maxBatchSize: 32, maxDelayMs: 0 })
  )
  const ctx: PipelineContext = {
    actorId: "bench-1",
    serving,
    maxPayloadBytes: 1 << 20,
    admission,
    loop,
    stats,
    measure
  }
  const msg = { subject: "modelbus.infer.iris", reply: "_INBOX.x", data: body, respond: () => true } as unknown as Msg
  const t0 = process.hrtime.bigint()
  for (let sent = 0; sent < REQUESTS; sent += concurrency) {
    const idle = new Promise<void>((resolve) => {
      const stop = admission.onIdle(() => {
        stop()
        resolve()
      })
    })
    for (let i = 0; i < concurrency; i++) answerInfer(ctx, msg)
    await idle
  }
  return Number(process.hrtime.bigint() - t0) / REQUESTS
}

const median = (xs: ReadonlyArray<number>) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!

for (const concurrency of [64, 1]) {
  const off: Array<number> = []
  const on: Array<number> = []
  await run(false, concurrency)
  await run(true, concurrency)
  for (let round = 0; round < ROUNDS; round++) {
    if (round % 2 === 0) {
      off.push(await run(false, concurrency))
      on.push(await run(true, concurrency))
    } else {
      on.push(await run(true, concurrency))
      off.push(await run(false, concurrency))
    }
  }
  const paired = median(on.map((x, i) => x - off[i]!))
  console.log(
    `c=${concurrency}: actor code off ${median(off).toFixed(0)} ns/request, on ${median(on).toFixed(0)} ns/request; metrics add ${paired.toFixed(0)} ns/request (median of ${ROUNDS} paired rounds)`
  )
}
