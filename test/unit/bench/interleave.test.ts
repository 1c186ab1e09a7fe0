// Interleaved measurement: every variant once per round in a rotating order that also reverses,
// and ratios taken within a round, reported as a median with the spread.
import { describe, expect, it } from "vitest"
import { interleave, pairedRatios, roundOrder, spreadOf } from "../../../bench/lib/interleave.js"

describe("interleaved rounds", () => {
  it("puts each variant first, and each pair in both orders, over the rounds", () => {
    const orders = Array.from({ length: 4 }, (_, r) => roundOrder(["a", "b"], r).join(""))
    expect(orders).toEqual(["ab", "ba", "ba", "ab"])
    const three = Array.from({ length: 6 }, (_, r) => roundOrder(["a", "b", "c"], r))
    for (const order of three) expect([...order].sort()).toEqual(["a", "b", "c"])
    expect(new Set(three.map((o) => o[0])).size).toBe(3)
    const aBeforeB = three.filter((o) => o.indexOf("a") < o.indexOf("b")).length
    expect(aBeforeB).toBe(3)
  })

  it("measures every variant each round and keeps the figures by round", async () => {
    const calls: Array<string> = []
    const figures = await interleave(["a", "b"], 3, async (v, round) => {
      calls.push(`${v}${round}`)
      return { x: (v === "a" ? 10 : 5) * (round + 1) }
    })
    expect(calls).toEqual(["a0", "b0", "b1", "a1", "b2", "a2"])
    expect(figures.a.map((f) => f.x)).toEqual([10, 20, 30])
    expect(
      spreadOf(
        pairedRatios(
          figures.a.map((f) => f.x),
          figures.b.map((f) => f.x)
        )
      )
    ).toEqual({
      median: 2,
      min: 2,
      max: 2
    })
  })

  it("takes the median of an even count as the mean of the middle two", () => {
    expect(spreadOf([4, 1, 3, 2])).toEqual({ median: 2.5, min: 1, max: 4 })
    expect(spreadOf([]).median).toBeNaN()
  })
})
