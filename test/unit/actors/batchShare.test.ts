// The share of a replica's time batch work takes beside online requests: no rest when no online request came
// during a chunk, a rest that keeps the chunk's calls to a quarter of the time when one did, bounded; and the
// tracker counting a chunk's call time and the online requests that ended during it or are held at its end.
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest"
import { BATCH_REST_MAX_MS, batchShare, restAfterChunk } from "../../../src/actors/batchShare.js"

describe("restAfterChunk", () => {
  it("asks for no rest when no online request came during the chunk", () => {
    expect(restAfterChunk(40, false)).toBe(0)
  })

  it("keeps batch calls to the share while online requests come", () => {
    expect(restAfterChunk(10, true, 0.25)).toBe(30)
    expect(restAfterChunk(10, true, 0.5)).toBe(10)
  })

  it("bounds the rest so a chunk of long calls still leaves its job moving", () => {
    expect(restAfterChunk(60_000, true)).toBe(BATCH_REST_MAX_MS)
  })

  it("asks for no rest after a chunk that made no model call", () => {
    expect(restAfterChunk(0, true)).toBe(0)
  })
})

/** An actor's online traffic whose requests the test starts and ends, on a clock it moves. */
const fakeTraffic = () => {
  let inflight = 0
  let clock = 100
  let lastIdleAt = 0
  return {
    idle: () => inflight === 0,
    lastIdleAt: () => lastIdleAt,
    now: () => clock,
    tick: (ms: number) => {
      clock += ms
    },
    begin: () => {
      inflight++
    },
    end: () => {
      inflight--
      if (inflight === 0) lastIdleAt = clock
    }
  }
}

describe("batchShare", () => {
  beforeEach(() => {
    vi.useFakeTimers()
  })
  afterEach(() => {
    vi.useRealTimers()
  })

  const settledAfter = async (promise: Promise<void>, ms: number) => {
    let settled = false
    void promise.then(() => {
      settled = true
    })
    await vi.advanceTimersByTimeAsync(ms)
    return settled
  }

  it("rests three times a chunk's call time when an online request ended during it", async () => {
    const traffic = fakeTraffic()
    const share = batchShare(traffic, traffic.now)
    share.chunkStarted()
    share.timed(4)
    traffic.tick(4)
    traffic.begin()
    traffic.end()
    share.timed(6)
    const rest = share.rest()
    expect(await settledAfter(rest, 29)).toBe(false)
    expect(await settledAfter(rest, 1)).toBe(true)
  })

  it("counts a request still held at the chunk's end as online traffic", async () => {
    const traffic = fakeTraffic()
    const share = batchShare(traffic, traffic.now)
    share.chunkStarted()
    traffic.begin()
    share.timed(10)
    expect(await settledAfter(share.rest(), 29)).toBe(false)
  })

  it("goes on at once after a chunk with no online request, and counts each chunk afresh", async () => {
    const traffic = fakeTraffic()
    const share = batchShare(traffic, traffic.now)
    share.chunkStarted()
    traffic.begin()
    traffic.end()
    share.timed(10)
    await vi.advanceTimersByTimeAsync(30)
    traffic.tick(40)
    share.chunkStarted()
    share.timed(10)
    expect(await settledAfter(share.rest(), 0)).toBe(true)
  })

  it("ends a rest at once when stopped", async () => {
    const traffic = fakeTraffic()
    const share = batchShare(traffic, traffic.now)
    share.chunkStarted()
    traffic.begin()
    traffic.end()
    share.timed(100)
    const rest = share.rest()
    share.stop()
    expect(await settledAfter(rest, 0)).toBe(true)
  })
})
