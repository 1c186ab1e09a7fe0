// The fit request body, decoded with protocol/fit's Schema: defaults left to the replica, a BadInput
// naming every wrong field with what it expected and what arrived; the progress token and epoch reports.
import * as Schema from "effect/Schema"
import { describe, expect, it } from "vitest"
import { BadInput } from "../../../src/protocol/errors.js"
import { decodeFitRequest, FitProgress } from "../../../src/protocol/fit.js"
import { subjects } from "../../../src/protocol/subjects.js"

const messageOf = (body: unknown): string => {
  const decoded = decodeFitRequest(body)
  if (!(decoded instanceof BadInput)) throw new Error(`expected BadInput, decoded ${JSON.stringify(decoded)}`)
  return decoded.message
}

describe("decodeFitRequest", () => {
  it("accepts x and y with or without options", () => {
    expect(decodeFitRequest({ x: [[1]], y: [[0, 1]] })).toEqual({ x: [[1]], y: [[0, 1]] })
    const full = { x: [[1]], y: [[1]], epochs: 3, batchSize: 8, loss: "meanSquaredError", learningRate: 0.5 }
    expect(decodeFitRequest(full)).toEqual(full)
  })

  it("names each wrong option, what it expected and what arrived", () => {
    const message = messageOf({ x: [[1]], y: [[1]], epochs: 0, batchSize: 2.5, learningRate: "fast" })
    expect(message).toMatch(/^fit request \{x, y, epochs\?, batchSize\?, loss\?, learningRate\?\}: /)
    expect(message).toContain("epochs: Expected a value greater than or equal to 1, got 0")
    expect(message).toContain("batchSize: Expected an integer, got 2.5")
    expect(message).toContain('learningRate: Expected number, got "fast"')
  })

  it("names a missing x or y, and a body that is not an object", () => {
    expect(messageOf({ x: [[1]] })).toContain("y: Missing key")
    expect(messageOf([1, 2])).toContain("body: Expected object, got [1,2]")
    expect(messageOf(null)).toContain("body: Expected object, got null")
  })
})

describe("fit progress", () => {
  it("accepts a progress token of one subject token and refuses one that would widen the subject", () => {
    expect(decodeFitRequest({ x: [[1]], y: [[1]], progress: "a1-b_2" })).toEqual({
      x: [[1]],
      y: [[1]],
      progress: "a1-b_2"
    })
    expect(messageOf({ x: [[1]], y: [[1]], progress: "a.>" })).toContain("progress:")
    expect(messageOf({ x: [[1]], y: [[1]], progress: "" })).toContain("progress:")
  })

  it("reports each epoch under the model's events, out of reach of an events(model) subscription", () => {
    const s = subjects("mb")
    expect(s.fitProgress("iris", "t0k3n")).toBe("mb.events.iris.fit.t0k3n")
    expect(s.fitProgress("iris", "t0k3n")).not.toBe(s.events("iris"))
    const decode = Schema.decodeUnknownSync(FitProgress)
    expect(decode({ epoch: 2, epochs: 5, loss: 0.25, actor: "iris-1@x" })).toEqual({
      epoch: 2,
      epochs: 5,
      loss: 0.25,
      actor: "iris-1@x"
    })
    expect(() => decode({ epoch: 0, epochs: 5, loss: 0.25, actor: "iris-1@x" })).toThrow()
  })
})

describe("decodeFitRequest with data in the Object Store", () => {
  it("takes a body that names its data instead of carrying x and y", () => {
    expect(decodeFitRequest({ data: "fit/iris/abc", epochs: 2 })).toEqual({ data: "fit/iris/abc", epochs: 2 })
  })
  it("refuses an empty data name, naming the field", () => {
    const decoded = decodeFitRequest({ data: "" })
    expect(decoded).toBeInstanceOf(BadInput)
    expect((decoded as BadInput).message).toMatch(/^fit request \{data, epochs\?.*\}: data: /)
  })
})
