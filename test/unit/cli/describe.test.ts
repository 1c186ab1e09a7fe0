// `modelbus models describe` as text: who answered, then one aligned row per input and output, `?`
// for a dynamic dimension.
import { describe, expect, it } from "vitest"
import { renderMetadata } from "../../../src/cli/models.js"

describe("renderMetadata", () => {
  it("prints the version, format, backend and answering actor, then inputs and outputs in one table", () => {
    const text = renderMetadata({
      name: "two-inputs",
      version: 3,
      format: "graph",
      backend: "wasm",
      inputs: [
        { name: "a", dtype: "float32", shape: [null, 4] },
        { name: "tokens", dtype: "int32", shape: [null, 16] }
      ],
      outputs: [{ name: "Identity:0", dtype: "float32", shape: [1] }],
      actor: "two-inputs-1@k3j9x2",
      supervisor: "k3j9x2"
    })
    expect(text.split("\n")).toEqual([
      "model    two-inputs",
      "version  3",
      "format   graph",
      "backend  wasm",
      "actor    two-inputs-1@k3j9x2 (supervisor k3j9x2)",
      "",
      "KIND    NAME        DTYPE    SHAPE",
      "input   a           float32  [?, 4]",
      "input   tokens      int32    [?, 16]",
      "output  Identity:0  float32  [1]"
    ])
  })
})
