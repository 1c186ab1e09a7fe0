// The rules for requests held at zero replicas: bounded by count and bytes, and held no longer
// than the request's own timeoutMs (a ceiling when it has none or a bad one).
import { describe, expect, it } from "vitest"
import { holdLimitMs, holdRefusal, MAX_HOLD_MS } from "../../../../src/supervisor/machine/heldRequests.js"

const bounds = { maxHeldRequests: 2, maxHeldBytes: 100 }

describe("holdRefusal", () => {
  it.each([
    ["room for one more", { count: 1, bytes: 10 }, 50, undefined],
    ["exactly at the byte bound", { count: 0, bytes: 60 }, 40, undefined],
    ["past the count", { count: 2, bytes: 0 }, 1, "already holds 2 requests (autoscale.maxHeldRequests)"],
    ["past the bytes", { count: 1, bytes: 90 }, 11, "would pass autoscale.maxHeldBytes (100)"]
  ] as const)("%s", (_, held, size, refusal) => {
    const why = holdRefusal(held, size, bounds, "iris")
    if (refusal === undefined) expect(why).toBeUndefined()
    else expect(why).toContain(refusal)
  })
})

describe("holdLimitMs", () => {
  it.each([
    ["the request's timeoutMs", { inputs: [], timeoutMs: 250 }, 250],
    ["capped", { inputs: [], timeoutMs: 10 * MAX_HOLD_MS }, MAX_HOLD_MS],
    ["none given", { inputs: [] }, MAX_HOLD_MS],
    ["a bad one", { inputs: [], timeoutMs: -3 }, MAX_HOLD_MS],
    ["a body that is not an object", "junk", MAX_HOLD_MS],
    ["no body", undefined, MAX_HOLD_MS]
  ] as const)("%s", (_, body, ms) => {
    expect(holdLimitMs(body)).toBe(ms)
  })
})
