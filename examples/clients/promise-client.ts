// The Promise client example of docs/clients.md, kept compiling by `npm run typecheck`:
// run with `npx tsx examples/clients/promise-client.ts` while `modelbus up` serves the Iris model.
import { BadInput, connect } from "modelbus"

const client = await connect({ servers: process.env.NATS_URL ?? "nats://127.0.0.1:4222" })
try {
  const reply = await client.infer("iris", {
    dtype: "float32",
    shape: [1, 4],
    data: new Float32Array([5.1, 3.5, 1.4, 0.2])
  })
  console.log(reply.outputs, reply.actor)
} catch (error) {
  if (error instanceof BadInput) console.error(error.message)
  else throw error
} finally {
  await client.close()
}
