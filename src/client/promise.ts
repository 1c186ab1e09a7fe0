// The Promise façade for code that does not use Effect: `connect()` returns infer, inferMany,
// status, stats and close; a rejection is the same tagged error class the Effect API fails with.
import { Effect, Exit, Cause, Scope } from "effect"
import type { InferInputs } from "../protocol/codec.js"
import type { InferReply, SupervisorStatus } from "../protocol/messages.js"
import { type ClientOptions, type ClientStats, type InferOptions, makeModelClient, type StatusOptions } from "./ModelClient.js"

export interface Client {
  infer(model: string, inputs: InferInputs, options?: InferOptions): Promise<InferReply>
  inferMany(model: string, inputs: ReadonlyArray<InferInputs>, options?: InferOptions): Promise<ReadonlyArray<InferReply>>
  status(options?: StatusOptions): Promise<ReadonlyArray<SupervisorStatus>>
  /** Requests, attempts, retries and failures so far (a snapshot). */
  stats(): ClientStats
  close(): Promise<void>
  [Symbol.asyncDispose](): Promise<void>
}

/** Runs an effect and rejects with its typed error itself (not a wrapper). */
const run = async <A, E>(effect: Effect.Effect<A, E>): Promise<A> => {
  const exit = await Effect.runPromiseExit(effect)
  if (Exit.isSuccess(exit)) return exit.value
  throw Cause.squash(exit.cause)
}

/** Connects to NATS and returns a Promise-based client. Rejects with ConnectionError. */
export const connect = async (options: ClientOptions = {}): Promise<Client> => {
  const scope = Scope.makeUnsafe()
  const client = await run(Scope.provide(scope)(makeModelClient(options))).catch(async (error) => {
    await run(Scope.close(scope, Exit.void))
    throw error
  })
  const close = () => run(Scope.close(scope, Exit.void))
  return {
    infer: (model, inputs, opts) => run(client.infer(model, inputs, opts)),
    inferMany: (model, inputs, opts) => run(client.inferMany(model, inputs, opts)),
    status: (opts) => run(client.status(opts)),
    stats: () => client.stats(),
    close,
    [Symbol.asyncDispose]: close
  }
}
