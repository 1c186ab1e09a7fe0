// A model's queued batch work as the autoscaler reads it: the chunks its durable work consumer has not
// delivered plus those delivered and not yet acknowledged. One consumer-info request every
// BACKLOG_READ_MS in a fiber of the scope; the autoscaler's ticks read the last figure (0 until a read
// succeeds, and while no job stream or consumer exists).
import { jetstreamManager } from "@nats-io/jetstream"
import type { NatsConnection } from "@nats-io/transport-node"
import { Duration, Effect, Schedule, type Scope } from "effect"
import { batchConsumer, batchNames } from "../../protocol/batch.js"

export interface BatchBacklog {
  /** Chunks queued or being worked for the model, as last read. */
  readonly queued: () => number
}

/** How often the work consumer is asked: a batch job waits this long at most before it wakes a model at zero. */
export const BACKLOG_READ_MS = 1_000

/** The consumer's pending plus unacknowledged chunks; 0 when there is no such consumer (no job yet). */
const readQueued = (jsm: () => ReturnType<typeof jetstreamManager>, prefix: string, model: string) =>
  Effect.tryPromise(async () => {
    const info = await (await jsm()).consumers.info(batchNames(prefix).work, batchConsumer(model))
    return info.num_pending + info.num_ack_pending
  }).pipe(Effect.orElseSucceed(() => 0))

export const makeBatchBacklog = Effect.fnUntraced(function* (options: {
  readonly nc: NatsConnection
  readonly prefix: string
  readonly model: string
}): Effect.fn.Return<BatchBacklog, never, Scope.Scope> {
  let queued = 0
  let manager: ReturnType<typeof jetstreamManager> | undefined
  const jsm = () => {
    manager ??= jetstreamManager(options.nc, { checkAPI: false })
    return manager
  }
  const read = readQueued(jsm, options.prefix, options.model).pipe(
    Effect.tap((n) =>
      Effect.sync(() => {
        queued = n
      })
    )
  )
  yield* Effect.forkScoped(read.pipe(Effect.repeat(Schedule.spaced(Duration.millis(BACKLOG_READ_MS)))))
  return { queued: () => queued }
})
