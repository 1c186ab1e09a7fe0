// The peer: the same model served by Moleculer 0.14 over its NATS transporter — a broker node
// with a `predict` action that runs the model. Env: NATS_URL, BENCH_MODEL, NODE_ID, MOLECULER_SERIALIZER.

import { Effect } from "effect"
import Moleculer from "moleculer"
import { modelNamed } from "./models.js"
import { moleculerBrokerOptions, moleculerService, toFloat32 } from "./moleculerShared.js"
import { dist } from "./paths.js"

const model = modelNamed(process.env.BENCH_MODEL ?? "iris")
const { initRuntime } = await dist.runtime()
const { loadModel } = await dist.loader()
await Effect.runPromise(initRuntime("wasm"))
const loaded = await Effect.runPromise(loadModel(model.dir))
const output = loaded.signature.outputs[0]!.name
const binary = process.env.MOLECULER_SERIALIZER === "msgpack"

interface Params {
  readonly shape: Array<number>
  readonly data: Array<number> | Uint8Array
}

const broker = new Moleculer.ServiceBroker(
  moleculerBrokerOptions(process.env.NODE_ID ?? `worker-${process.pid}`, process.env.NATS_URL!, binary)
)
broker.createService({
  name: moleculerService(model.name),
  actions: {
    predict: {
      handler: async (ctx: Moleculer.Context<Params>) => {
        const { shape, data } = ctx.params
        const outputs = await loaded.predict({ [model.inputName]: { dtype: "float32", shape, data: toFloat32(data) } })
        const result = outputs[output]!
        // JSON: plain numbers; binary: the raw bytes, as modelbus replies.
        return {
          dtype: result.dtype,
          shape: result.shape,
          data: binary
            ? new Uint8Array(result.data.buffer, result.data.byteOffset, result.data.byteLength)
            : Array.from(result.data as Float32Array)
        }
      }
    }
  }
})
await broker.start()
console.log("moleculer ready")
const stop = () => void broker.stop().finally(() => process.exit(0))
process.once("SIGTERM", stop)
process.once("SIGINT", stop)
// The bench that forked this process is gone: stop rather than linger.
process.on("disconnect", () => process.exit(0))
