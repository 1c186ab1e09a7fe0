// A test's own pull of one batch chunk of a model, made before the job exists (it waits in the server's
// queue beside the replicas' pulls) and kept in progress until released: the job cannot end before the
// release, however fast the replicas run the rest.
import { type JsMsg, jetstream } from "@nats-io/jetstream"
import type { NatsConnection } from "@nats-io/transport-node"
import { ensureBatchStreams, ensureModelConsumer } from "../../src/client/batch.js"
import { BATCH_CONSUMER_DEFAULTS, batchConsumer, batchNames } from "../../src/protocol/batch.js"

export interface HeldChunk {
  /** The chunk once the test's pull got it. */
  readonly chunk: Promise<JsMsg>
  /** Stops the in-progress acks and gives the chunk back to the replicas (a nak). */
  readonly release: () => Promise<void>
}

export const holdOneChunk = async (nc: NatsConnection, model: string, prefix = "modelbus"): Promise<HeldChunk> => {
  await ensureBatchStreams(nc, prefix)
  await ensureModelConsumer(nc, prefix, model, { ...BATCH_CONSUMER_DEFAULTS, ackWaitMs: 2_000 })
  const consumer = await jetstream(nc).consumers.get(batchNames(prefix).work, batchConsumer(model))
  const pull = await consumer.fetch({ max_messages: 1, expires: 120_000 })
  await nc.flush()
  let keep: ReturnType<typeof setInterval> | undefined
  const chunk = (async (): Promise<JsMsg> => {
    for await (const msg of pull) {
      keep = setInterval(() => msg.working(), 250)
      return msg
    }
    throw new Error("the test's pull ended without a chunk")
  })()
  const release = async () => {
    const msg = await chunk
    clearInterval(keep)
    msg.nak()
  }
  return { chunk, release }
}
