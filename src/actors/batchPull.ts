// Pulling a model's batch chunks one ahead: while a replica runs a chunk, the next one travels from the
// server (0.5 MB of rows takes about as long as a tenth of the chunk's model calls) and waits, kept in
// progress, so the model never idles on the bus between chunks. One chunk at most is held ahead; it is
// handed back (nak) when the puller closes before it was taken. A redelivered chunk (its last actor may have
// died of it) runs alone: nothing is pulled ahead meanwhile, so a chunk that kills its actors takes no other
// chunk's deliveries with it.
import type { Consumer, JsMsg } from "@nats-io/jetstream"
import { KEEP_ALIVE_MS } from "../protocol/batchTiming.js"

/** A chunk taken off the consumer: in-progress acks go every KEEP_ALIVE_MS until `settled`. */
export interface TakenChunk {
  readonly msg: JsMsg
  /** Stops its in-progress acks: once the chunk is acked, nak'd or terminated. */
  readonly settled: () => void
}

const taken = (msg: JsMsg): TakenChunk => {
  const keep = setInterval(() => msg.working(), KEEP_ALIVE_MS)
  return { msg, settled: () => clearInterval(keep) }
}

export interface ChunkPuller {
  /**
   * The next chunk (the one pulled ahead when there is one), or undefined when a pull expired with none;
   * starts pulling the one after it at once unless the chunk is a redelivery. Rejects when a pull failed
   * (its server gone, the consumer deleted).
   */
  readonly next: () => Promise<TakenChunk | undefined>
  /** Ends open pulls; a chunk pulled ahead and not taken goes back to the consumer at once. */
  readonly close: () => Promise<void>
}

export const chunkPuller = (consumer: Consumer, expiresMs: number): ChunkPuller => {
  const open = new Set<{ close: () => Promise<unknown> }>()
  let closed = false
  let ahead: Promise<TakenChunk | undefined> | undefined

  const pullOne = async (): Promise<TakenChunk | undefined> => {
    const messages = await consumer.fetch({ max_messages: 1, expires: expiresMs })
    open.add(messages)
    try {
      for await (const msg of messages) {
        if (closed) {
          msg.nak()
          return undefined
        }
        return taken(msg)
      }
      return undefined
    } finally {
      open.delete(messages)
    }
  }

  const next = async (): Promise<TakenChunk | undefined> => {
    const pulled = ahead ?? pullOne()
    ahead = undefined
    const chunk = await pulled
    if (chunk !== undefined && !closed && chunk.msg.info.deliveryCount === 1) {
      ahead = pullOne()
      // a failed pull ahead is seen when it is awaited, by the next `next`
      ahead.catch(() => undefined)
    }
    return chunk
  }

  const close = async () => {
    closed = true
    const pending = ahead
    ahead = undefined
    await Promise.all([...open].map((m) => m.close().catch(() => undefined)))
    const chunk = await pending?.catch(() => undefined)
    if (chunk !== undefined) {
      chunk.settled()
      chunk.msg.nak()
    }
  }

  return { next, close }
}
