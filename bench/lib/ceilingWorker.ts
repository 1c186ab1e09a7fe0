// The in-process ceiling: one process with the model loaded (same loader, same WASM backend as
// an actor) running predict back to back at a given batch size, no messaging. Env: BENCH_MODEL(_DIR).
import { Effect } from "effect"
import { closedLoop } from "./loadgen.js"
import { modelNamed, tensorInput } from "./models.js"
import { dist } from "./paths.js"
import { serveRpc } from "./rpc.js"

const model = modelNamed(process.env.BENCH_MODEL ?? "iris")
const { initRuntime } = await dist.runtime()
const { loadModel } = await dist.loader()
const runtime = await Effect.runPromise(initRuntime("wasm"))
// BENCH_MODEL_DIR: another folder with the same input (the model's ONNX twin)
const loaded = await Effect.runPromise(loadModel(process.env.BENCH_MODEL_DIR ?? model.dir))

const inputsFor = (batch: number) =>
  Array.from({ length: 8 }, (_, i) => ({ [model.inputName]: tensorInput(model, batch, i + 1) }))

serveRpc(async (command) => {
  const batch = Number(command.batch)
  const inputs = inputsFor(batch)
  const predict = (i: number) => loaded.predict(inputs[i % inputs.length]!)
  if (command.type === "warmup") {
    await closedLoop(predict, {
      concurrency: 1,
      warmupMs: 0,
      durationMs: Number(command.durationMs),
      maxRequests: 1_000_000
    })
    return { backend: runtime.backend, tensors: runtime.tf.memory().numTensors }
  }
  if (command.type === "run") {
    const cpuBefore = process.cpuUsage()
    const summary = await closedLoop(predict, {
      concurrency: 1,
      warmupMs: 0,
      durationMs: Number(command.durationMs),
      maxRequests: 10_000_000
    })
    const cpu = process.cpuUsage(cpuBefore)
    // Calls → samples: the rate counts samples, latencies stay per predict call; cpuUs is this process's CPU in the run.
    return {
      ...summary,
      count: summary.count * batch,
      perSecond: summary.perSecond * batch,
      calls: summary.count,
      cpuUs: cpu.user + cpu.system
    }
  }
  throw new Error(`unknown command ${command.type}`)
})
process.send!({ ready: true, backend: runtime.backend })
