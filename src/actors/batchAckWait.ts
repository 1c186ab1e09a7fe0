// A replica's part in its model's batch ack wait: it times the model calls of the chunks it works and, when
// its longest call asks for a longer ack wait than the consumer has (or the consumer is still unmeasured),
// writes it there with the backoff grown from it. What to write is protocol/batchTiming.ts's decision.
import { jetstreamManager } from "@nats-io/jetstream"
import type { NatsConnection } from "@nats-io/transport-node"
import { batchConsumer, batchNames } from "../protocol/batch.js"
import { choiceOfConfig, measuredAckWait, measuredAckWaitMs, timingConfig } from "../protocol/batchTiming.js"
import { messageOf } from "../protocol/values.js"

export interface AckWaitFollower {
  /** One model call of a chunk took `ms`. */
  readonly timed: (ms: number) => void
  /** The consumer may have been rewritten (a submitter's notice): look at it again at the next settle. */
  readonly stale: () => void
  /** A chunk of `job` came: a job not seen last was submitted since, which may have rewritten the consumer. */
  readonly jobSeen: (job: string) => void
  /**
   * Reads the consumer and writes the ack wait the calls timed so far ask for, when they ask for one it does
   * not have; only when a call grew past what was last compared, or after `stale`. Never rejects (a failure
   * is logged and tried again at the next settle).
   */
  readonly settle: () => Promise<void>
}

/** How long a settle's JetStream calls may take before it gives up until the next one. */
const SETTLE_TIMEOUT_MS = 2_000

export const followAckWait = (ctx: {
  readonly nc: NatsConnection
  readonly prefix: string
  readonly model: string
  readonly actorId: string
  readonly log: (message: string) => void
}): AckWaitFollower => {
  const stream = batchNames(ctx.prefix).work
  const consumer = batchConsumer(ctx.model)
  let longestMs = 0
  /** The longest call last compared with the consumer's ack wait. */
  let comparedMs = 0
  let dirty = true
  let lastJob: string | undefined
  return {
    timed: (ms) => {
      if (ms > longestMs) longestMs = ms
    },
    stale: () => {
      dirty = true
    },
    jobSeen: (job) => {
      if (job !== lastJob) dirty = true
      lastJob = job
    },
    settle: async () => {
      if (longestMs === 0) return
      if (!dirty && measuredAckWaitMs(longestMs) <= measuredAckWaitMs(comparedMs)) return
      const longest = longestMs
      try {
        // bounded: a chunk's result waits for this (JetStream electing a leader fails it, tried at the next settle)
        const jsm = await jetstreamManager(ctx.nc, { timeout: SETTLE_TIMEOUT_MS })
        const info = await jsm.consumers.info(stream, consumer)
        dirty = false
        comparedMs = longest
        const ackWaitMs = measuredAckWait(choiceOfConfig(info.config), longest)
        if (ackWaitMs === undefined) return
        await jsm.consumers.update(
          stream,
          consumer,
          timingConfig({ mode: "measured", ackWaitMs }, info.config.max_deliver ?? 1)
        )
        ctx.log(
          `actor ${ctx.actorId}: batch ack wait of ${ctx.model} now ${ackWaitMs / 1_000} s (longest model call ${Math.round(longest)} ms)`
        )
      } catch (cause) {
        dirty = true
        ctx.log(`actor ${ctx.actorId}: could not measure the batch ack wait of ${ctx.model}: ${messageOf(cause)}`)
      }
    }
  }
}
