// When a replica is recycled: each limit (requests, memory, tensors) alone, and none without limits.
import { describe, expect, it } from "vitest"
import type { ActorCounters } from "../../../../src/protocol/ipc.js"
import { recycleReason } from "../../../../src/supervisor/machine/recycle.js"

const counters = (over: Partial<ActorCounters> = {}): ActorCounters => ({
  version: 1,
  loads: 1,
  served: 10,
  errors: 0,
  inflight: 0,
  calls: 10,
  tensors: 6,
  rssBytes: 100 * 1024 * 1024,
  ...over
})

describe("recycleReason", () => {
  it("says nothing without limits or within every limit", () => {
    expect(recycleReason(counters(), undefined)).toBeUndefined()
    expect(recycleReason(counters(), {})).toBeUndefined()
    expect(recycleReason(counters(), { afterRequests: 11, maxRssMb: 101, maxTensors: 7 })).toBeUndefined()
  })

  it("counts answered requests, errors included", () => {
    expect(recycleReason(counters({ served: 8, errors: 2 }), { afterRequests: 10 })).toBe(
      "served 10 requests (limit 10)"
    )
  })

  it("reads resident memory in MB and live tensors", () => {
    expect(recycleReason(counters({ rssBytes: 600 * 1024 * 1024 }), { maxRssMb: 512 })).toBe(
      "resident memory 600 MB (limit 512)"
    )
    expect(recycleReason(counters({ tensors: 500 }), { maxTensors: 200 })).toBe("500 live tensors (limit 200)")
  })
})
