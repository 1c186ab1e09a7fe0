// Recognising Layers and Graph model.json files, and which graphs need executeAsync.
import { describe, expect, it } from "vitest"
import { detectFormat, graphNeedsAsync } from "../../../src/model/format.js"

describe("detectFormat", () => {
  it("trusts an explicit format", () => {
    expect(detectFormat({ format: "layers-model", modelTopology: {} })).toBe("layers")
    expect(detectFormat({ format: "graph-model", modelTopology: {} })).toBe("graph")
  })

  it("recognises a Keras topology, bare or under model_config", () => {
    expect(detectFormat({ modelTopology: { class_name: "Sequential", config: { layers: [] } } })).toBe("layers")
    expect(detectFormat({ modelTopology: { model_config: { class_name: "Model", config: {} } } })).toBe("layers")
  })

  it("recognises a GraphDef by its node list", () => {
    expect(detectFormat({ modelTopology: { node: [], versions: {} } })).toBe("graph")
  })

  it("is undefined for anything else", () => {
    expect(detectFormat({})).toBeUndefined()
    expect(detectFormat({ modelTopology: { something: 1 } })).toBeUndefined()
    expect(detectFormat({ format: "saved-model", modelTopology: [] })).toBeUndefined()
  })
})

describe("graphNeedsAsync", () => {
  it("is false for a plain feed-forward graph", () => {
    expect(graphNeedsAsync({ node: [{ op: "Placeholder" }, { op: "MatMul" }, { op: "Softmax" }] })).toBe(false)
  })

  it("is true for control flow, dynamic-shape ops and library functions", () => {
    expect(graphNeedsAsync({ node: [{ op: "Placeholder" }, { op: "StatelessWhile" }] })).toBe(true)
    expect(graphNeedsAsync({ node: [{ op: "NonMaxSuppressionV5" }] })).toBe(true)
    expect(graphNeedsAsync({ node: [], library: { function: [{ signature: { name: "f" } }] } })).toBe(true)
  })
})
