// The canary split as a pure decision: a sticky key hashes to the same draw everywhere (so one key gets one
// version), draws spread evenly, keyless requests go to stable, and acquire is where the version is chosen.
import { headers as natsHeaders } from "@nats-io/transport-node"
import { describe, expect, it } from "vitest"
import { makeLiveCanary } from "../../../../src/actors/canary/live.js"
import { hashDraw, KEYLESS, saltOf, stickyDraw, toCandidate } from "../../../../src/actors/canary/split.js"
import { acquire, servingModel, servingVersion } from "../../../../src/actors/servingModel.js"
import { fakeModel, rowSums, xRows } from "../fakes.js"
import { canaryState } from "./state.js"

const encoder = new TextEncoder()

describe("the draw", () => {
  it("is the same for one key and salt on every call, and differs with the salt", () => {
    const key = encoder.encode("user-42")
    expect(hashDraw(saltOf("c1"), key)).toBe(hashDraw(saltOf("c1"), encoder.encode("user-42")))
    expect(hashDraw(saltOf("c1"), key)).not.toBe(hashDraw(saltOf("c2"), key))
  })

  it("spreads sequential keys evenly over [0, 1): each tenth holds 10 % ± 1 % of 100 000 keys", () => {
    const tenths = new Array<number>(10).fill(0)
    const salt = saltOf("canary")
    let outside = 0
    for (let i = 0; i < 100_000; i++) {
      const d = hashDraw(salt, encoder.encode(`user-${i}`))
      if (d < 0 || d >= 1) outside++
      else tenths[Math.floor(d * 10)]!++
    }
    expect(outside).toBe(0)
    for (const n of tenths) expect(Math.abs(n - 10_000)).toBeLessThan(1_000)
  })

  it("reads a header or an input's bytes; no header, an empty one, or no input is keyless (stable)", () => {
    const salt = saltOf("c1")
    const h = natsHeaders()
    h.set("user", "u-7")
    const inputs = { x: xRows(2, 3) }
    expect(stickyDraw({ kind: "header", name: "user" }, salt, { headers: h }, inputs)).toBe(
      hashDraw(salt, encoder.encode("u-7"))
    )
    expect(stickyDraw({ kind: "header", name: "other" }, salt, { headers: h }, inputs)).toBe(KEYLESS)
    expect(stickyDraw({ kind: "header", name: "user" }, salt, {}, inputs)).toBe(KEYLESS)
    const bytes = new Uint8Array(inputs.x.data.buffer, inputs.x.data.byteOffset, inputs.x.data.byteLength)
    expect(stickyDraw({ kind: "input", name: "x" }, salt, {}, inputs)).toBe(hashDraw(salt, bytes))
    expect(stickyDraw({ kind: "input", name: "y" }, salt, {}, inputs)).toBe(KEYLESS)
  })

  it("sends a draw below the share to the candidate: 0 % never, 100 % every draw in [0, 1), keyless never", () => {
    for (const d of [0, 0.3, 0.999999]) {
      expect(toCandidate(d, 0)).toBe(false)
      expect(toCandidate(d, 1)).toBe(true)
    }
    expect(toCandidate(0.09, 0.1)).toBe(true)
    expect(toCandidate(0.1, 0.1)).toBe(false)
    expect(toCandidate(KEYLESS, 1)).toBe(false)
  })
})

describe("acquire: the one place a request's version is chosen", () => {
  it("gives the current version without a canary, and the candidate for draws within its share", () => {
    const stable = fakeModel(async (i) => rowSums(i)).model
    const serving = servingModel(stable, 1)
    expect(acquire(serving, 0).version).toBe(1)
    const candidate = servingVersion(fakeModel(async (i) => rowSums(i)).model, 2, true)
    serving.canary = makeLiveCanary(canaryState({ percent: 25 }), candidate, () => {})
    expect(acquire(serving, 0.2)).toBe(candidate)
    expect(acquire(serving, 0.25)).toBe(serving.current)
    expect(acquire(serving)).toBe(serving.current)
    expect(candidate.inflight).toBe(1)
    expect(serving.current.inflight).toBe(3)
  })
})
