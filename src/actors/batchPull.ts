// Pulling a model's batch chunks ahead: while a replica runs a chunk, the next ones travel from the server
// (up to 7/8 of a message of rows: about a tenth of the chunk's model calls, longer while the server is busy
// storing a job being submitted) and wait, kept in progress, so the model never idles on the bus between
// chunks. At most PULL_AHEAD chunks are held or on their way, each pulled once the one before it arrived;
// those not taken go back (nak) when the puller closes. A redelivered chunk (its last actor may have died of
// it) runs alone: nothing is pulled behind it, so a chunk that kills its actors takes no other chunk's
// deliveries with it.
import type { Consumer, JsMsg } from "@nats-io/jetstream"
import { KEEP_ALIVE_MS } from "../protocol/batchTiming.js"

/** Chunks a replica holds ahead of the one it runs, at most. */
export const PULL_AHEAD = 2

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

/**
 * Whether to pull one more chunk ahead (pure): fewer than `depth` are held or on their way, and the last
 * one to arrive (undefined: none is ahead) came as a first delivery.
 */
export const pullsAnother = (held: number, lastDelivery: number | undefined, depth: number): boolean =>
  held < depth && (lastDelivery === undefined || lastDelivery === 1)

export interface ChunkPuller {
  /**
   * The next chunk (the oldest pulled ahead when there is one), or undefined when a pull expired with none;
   * pulls ahead behind it unless the chunk is a redelivery. Rejects when a pull failed (its server gone,
   * the consumer deleted).
   */
  readonly next: () => Promise<TakenChunk | undefined>
  /** Ends open pulls; the chunks pulled ahead and not taken go back to the consumer at once. */
  readonly close: () => Promise<void>
}

export const chunkPuller = (consumer: Consumer, expiresMs: number, depth = PULL_AHEAD): ChunkPuller => {
  const open = new Set<{ close: () => Promise<unknown> }>()
  let closed = false
  // oldest first; `delivery` once the chunk arrived
  const ahead: Array<{ readonly pulled: Promise<TakenChunk | undefined>; delivery?: number }> = []
  let refilling = false

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

  // one pull after another, each once the one before it arrived as a first delivery; a failed pull is seen
  // when it is awaited, by `next`
  const refill = async () => {
    if (refilling) return
    refilling = true
    try {
      while (!closed && pullsAnother(ahead.length, ahead.at(-1)?.delivery, depth)) {
        const entry: (typeof ahead)[number] = { pulled: pullOne() }
        ahead.push(entry)
        const chunk = await entry.pulled.catch(() => undefined)
        if (chunk === undefined) return
        entry.delivery = chunk.msg.info.deliveryCount
      }
    } finally {
      refilling = false
    }
  }

  const next = async (): Promise<TakenChunk | undefined> => {
    const chunk = await (ahead.shift()?.pulled ?? pullOne())
    if (chunk !== undefined && !closed && chunk.msg.info.deliveryCount === 1) void refill()
    return chunk
  }

  const close = async () => {
    closed = true
    const pending = ahead.splice(0)
    await Promise.all([...open].map((m) => m.close().catch(() => undefined)))
    for (const chunk of await Promise.all(pending.map((p) => p.pulled.catch(() => undefined)))) {
      if (chunk === undefined) continue
      chunk.settled()
      chunk.msg.nak()
    }
  }

  return { next, close }
}
