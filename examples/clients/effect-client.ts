// The Effect client example of docs/clients.md, kept compiling by `npm run typecheck`:
// run with `npx tsx examples/clients/effect-client.ts` while `modelbus up` serves the Iris model.
import { Effect } from "effect"
import { ModelClient } from "modelbus"

const program = Effect.gen(function* () {
  const client = yield* ModelClient
  const one = yield* client.infer("iris", [[5.1, 3.5, 1.4, 0.2]])
  const many = yield* client.inferMany("iris", [[[6.7, 3.0, 5.2, 2.3]], [[5.9, 3.0, 4.2, 1.5]]])
  return [one, ...many].map((r) => r.outputs)
}).pipe(
  Effect.catchTag("BadInput", (e) => Effect.succeed(`bad input: ${e.message}`)),
  Effect.provide(ModelClient.layer({ servers: process.env.NATS_URL ?? "nats://127.0.0.1:4222" }))
)

console.log(await Effect.runPromise(program))
