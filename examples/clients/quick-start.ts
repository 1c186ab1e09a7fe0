// The README's TypeScript program, kept compiling by `npm run typecheck` and run by test/integration/exampleClients.test.ts:
// `npx tsx examples/clients/quick-start.ts` while `npm start` serves the Iris model.
import { connect } from "modelbus"

const client = await connect({ servers: process.env.NATS_URL ?? "nats://127.0.0.1:4222" })
const reply = await client.infer("iris", [[5.1, 3.5, 1.4, 0.2]]) // retried when safe; else a typed error
console.log(reply.outputs, reply.version, reply.actor)
await client.close()
