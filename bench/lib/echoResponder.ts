// The messaging ceiling's server: a raw NATS responder in a queue group that answers every
// request with its own payload (no decoding), so only transport costs are left. Env: NATS_URL, ECHO_SUBJECT.
import { connect } from "@nats-io/transport-node"

const nc = await connect({ servers: process.env.NATS_URL!, name: "bench-echo" })
const subject = process.env.ECHO_SUBJECT ?? "bench.echo"
nc.subscribe(subject, { queue: subject, callback: (error, msg) => {
  if (error === null) msg.respond(msg.data)
} })
await nc.flush()
console.log("echo ready")
const stop = () => void nc.drain().finally(() => process.exit(0))
process.once("SIGTERM", stop)
process.once("SIGINT", stop)
// The bench that forked this process is gone: stop rather than linger.
process.on("disconnect", () => process.exit(0))
