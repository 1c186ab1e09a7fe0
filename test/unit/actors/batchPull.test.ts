// Pulling batch chunks ahead, on a scripted consumer: at most PULL_AHEAD chunks held behind the one taken,
// pulled one after another; nothing pulled behind a redelivered chunk, so it runs alone; chunks held when the
// puller closes go back (nak).
import type { Consumer, JsMsg } from "@nats-io/jetstream"
import { describe, expect, it } from "vitest"
import { chunkPuller, PULL_AHEAD, pullsAnother } from "../../../src/actors/batchPull.js"

describe("pullsAnother", () => {
  it.each([
    [0, undefined, 2, true],
    [1, 1, 2, true],
    [2, 1, 2, false],
    [1, 2, 2, false],
    [1, undefined, 2, true],
    [0, undefined, 0, false]
  ])("with %i held, the last one's delivery %s, depth %i: %s", (held, last, depth, expected) => {
    expect(pullsAnother(held, last, depth)).toBe(expected)
  })
})

/** A consumer whose fetches each deliver the next chunk of `deliveries` (its delivery count), recording naks. */
const scriptedConsumer = (deliveries: ReadonlyArray<number>) => {
  let fetches = 0
  const naked: Array<number> = []
  const consumer = {
    fetch: async () => {
      const index = fetches++
      return {
        close: async () => undefined,
        async *[Symbol.asyncIterator]() {
          if (index >= deliveries.length) return
          yield {
            seq: index,
            info: { deliveryCount: deliveries[index]! },
            working: () => undefined,
            nak: () => naked.push(index)
          } as unknown as JsMsg
        }
      }
    }
  } as unknown as Consumer
  return { consumer, fetches: () => fetches, naked }
}

/** Lets every pending pull settle (the scripted fetches answer at once). */
const settle = () => new Promise((resolve) => setTimeout(resolve, 0))

describe("chunkPuller", () => {
  it("holds PULL_AHEAD chunks behind the one taken, and none behind a redelivered chunk", async () => {
    expect(PULL_AHEAD).toBe(2)
    const script = scriptedConsumer([1, 1, 1, 2, 1, 1, 1])
    const puller = chunkPuller(script.consumer, 1_000)
    const seqOf = async () => {
      const chunk = await puller.next()
      chunk?.settled()
      return chunk?.msg.seq
    }
    expect(await seqOf()).toBe(0)
    await settle()
    expect(script.fetches()).toBe(3) // 0 taken, 1 and 2 ahead
    expect(await seqOf()).toBe(1)
    await settle()
    expect(script.fetches()).toBe(4) // 3 pulled: a redelivery, so the pulls stop behind it
    expect(await seqOf()).toBe(2)
    await settle()
    expect(script.fetches()).toBe(4)
    expect(await seqOf()).toBe(3) // the redelivered chunk, with nothing held behind it
    await settle()
    expect(script.fetches()).toBe(4)
    expect(await seqOf()).toBe(4)
    await settle()
    expect(script.fetches()).toBe(7)
    await puller.close()
    expect(script.naked).toEqual([5, 6])
  })

  it("returns undefined for a pull that expired empty and pulls again on the next call", async () => {
    const script = scriptedConsumer([])
    const puller = chunkPuller(script.consumer, 1_000)
    expect(await puller.next()).toBeUndefined()
    expect(await puller.next()).toBeUndefined()
    expect(script.fetches()).toBe(2)
    await puller.close()
  })
})
