// OTP restart strategies as a pure decision over children in start order (property tests).
import fc from "fast-check"
import { describe, expect, it } from "vitest"
import { childrenToRestart, Strategy } from "../../../../src/supervisor/machine/strategy.js"

const idsArb = fc.uniqueArray(fc.string({ minLength: 1, maxLength: 8 }), { minLength: 1, maxLength: 20 })
/** Children in start order, and the index of the one that failed. */
const failureArb = idsArb.chain((ids) => fc.tuple(fc.constant(ids), fc.nat({ max: ids.length - 1 })))

describe("childrenToRestart", () => {
  it("one_for_one restarts only the failed child (property)", () => {
    fc.assert(
      fc.property(failureArb, ([ids, i]) => {
        expect(childrenToRestart("one_for_one", ids, ids[i]!)).toEqual([ids[i]])
      })
    )
  })

  it("one_for_all restarts every child, in start order (property)", () => {
    fc.assert(
      fc.property(failureArb, ([ids, i]) => {
        const restarted = childrenToRestart("one_for_all", ids, ids[i]!)
        expect(restarted).toEqual(ids)
        expect(restarted).not.toBe(ids) // a copy: the caller may keep mutating its child list
      })
    )
  })

  it("rest_for_one restarts the failed child and every later one, in start order (property)", () => {
    fc.assert(
      fc.property(failureArb, ([ids, i]) => {
        const restarted = childrenToRestart("rest_for_one", ids, ids[i]!)
        expect(restarted).toEqual(ids.slice(i))
        expect(restarted[0]).toBe(ids[i])
        for (const earlier of ids.slice(0, i)) expect(restarted).not.toContain(earlier)
      })
    )
  })

  it("an unknown id restarts nothing, whatever the strategy (property)", () => {
    fc.assert(
      fc.property(idsArb, fc.string(), fc.constantFrom(...Object.values(Strategy)), (ids, unknown, strategy) => {
        fc.pre(!ids.includes(unknown))
        expect(childrenToRestart(strategy, ids, unknown)).toEqual([])
      })
    )
  })

  it("always returns a subset of the children, in start order, containing the failed one (property)", () => {
    fc.assert(
      fc.property(failureArb, fc.constantFrom(...Object.values(Strategy)), ([ids, i], strategy) => {
        const restarted = childrenToRestart(strategy, ids, ids[i]!)
        expect(restarted).toContain(ids[i])
        const positions = restarted.map((id) => ids.indexOf(id))
        expect(positions.every((p) => p >= 0)).toBe(true)
        expect(positions).toEqual([...positions].sort((a, b) => a - b))
        expect(new Set(restarted).size).toBe(restarted.length)
      })
    )
  })

  it("examples", () => {
    const ids = ["a", "b", "c", "d"]
    expect(childrenToRestart("one_for_one", ids, "c")).toEqual(["c"])
    expect(childrenToRestart("one_for_all", ids, "c")).toEqual(["a", "b", "c", "d"])
    expect(childrenToRestart("rest_for_one", ids, "b")).toEqual(["b", "c", "d"])
    expect(childrenToRestart("rest_for_one", ids, "d")).toEqual(["d"])
    expect(childrenToRestart("rest_for_one", ids, "a")).toEqual(ids)
    expect(childrenToRestart("one_for_all", [], "a")).toEqual([])
  })
})
