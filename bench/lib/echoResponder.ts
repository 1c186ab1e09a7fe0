// The messaging ceiling's server: a raw NATS responder in a queue group that answers every request
// with its own payload, or with one canned modelbus reply (ECHO_REPLY_MODEL). Env: NATS_URL, ECHO_SUBJECT.
import { connect } from "@nats-io/transport-node"
import { modelNamed } from "./models.js"
import { dist } from "./paths.js"

/** A valid modelbus reply of the model's output shape (one sample), encoded once. */
const cannedReply = async (name: string): Promise<Uint8Array> => {
  const { encodeReply } = await dist.codec()
  const outputs = { dtype: "float32" as const, shape: [1, 3], data: new Float32Array([0.9, 0.05, 0.05]) }
  if (modelNamed(name).name === "cnn") Object.assign(outputs, { shape: [1, 10], data: new Float32Array(10).fill(0.1) })
  return encodeReply({ outputs, model: name, version: 1, actor: "canned" }, "msgpack")
}

const canned = process.env.ECHO_REPLY_MODEL === undefined ? undefined : await cannedReply(process.env.ECHO_REPLY_MODEL)
const nc = await connect({ servers: process.env.NATS_URL!, name: "bench-echo" })
const subject = process.env.ECHO_SUBJECT ?? "bench.echo"
nc.subscribe(subject, {
  queue: subject,
  callback: (error, msg) => {
    if (error === null) msg.respond(canned ?? msg.data)
  }
})
await nc.flush()
console.log("echo ready")
const stop = () => void nc.drain().finally(() => process.exit(0))
process.once("SIGTERM", stop)
process.once("SIGINT", stop)
// The bench that forked this process is gone: stop rather than linger.
process.on("disconnect", () => process.exit(0))
