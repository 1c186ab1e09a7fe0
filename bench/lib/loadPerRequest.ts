// The anti-pattern's server: a NATS responder that loads the model from its folder for every
// request, predicts, disposes it and replies (modelbus's codec and checks). Env: NATS_URL, BENCH_MODEL.
import { connect } from "@nats-io/transport-node"
import { Effect } from "effect"
import { modelNamed } from "./models.js"
import { dist } from "./paths.js"

const model = modelNamed(process.env.BENCH_MODEL ?? "iris")
const { initRuntime } = await dist.runtime()
const { loadModel } = await dist.loader()
const { checkInputs } = await dist.signature()
const { decodeRequest, encodeReply, encodeError } = await dist.codec()
await Effect.runPromise(initRuntime("wasm"))

const answer = async (data: Uint8Array): Promise<Uint8Array> => {
  const request = decodeRequest(data, "msgpack")
  if (request instanceof Error) return encodeError(request, "msgpack")
  const loaded = await Effect.runPromise(loadModel(model.dir))
  try {
    const inputs = checkInputs(loaded.signature, request)
    if (inputs instanceof Error) return encodeError(inputs, "msgpack")
    const outputs = await loaded.predict(inputs)
    const only = loaded.signature.outputs[0]!.name
    return encodeReply(
      { outputs: outputs[only]!, model: model.name, version: 1, actor: `load-per-request-${process.pid}` },
      "msgpack"
    )
  } finally {
    loaded.dispose()
  }
}

const nc = await connect({ servers: process.env.NATS_URL!, name: "bench-load-per-request" })
const subject = `bench.loadper.${model.name}`
nc.subscribe(subject, {
  queue: subject,
  callback: (error, msg) => {
    if (error !== null) return
    answer(msg.data).then(
      (body) => msg.respond(body),
      (cause: unknown) => msg.respond(new TextEncoder().encode(String(cause)))
    )
  }
})
await nc.flush()
console.log("load-per-request ready")
const stop = () => void nc.drain().finally(() => process.exit(0))
process.once("SIGTERM", stop)
process.once("SIGINT", stop)
// The bench that forked this process is gone: stop rather than linger.
process.on("disconnect", () => process.exit(0))
