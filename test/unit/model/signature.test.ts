// Checking decoded requests against a model signature: names, dtypes, shapes, outputs.
import { describe, expect, it } from "vitest"
import { BadInput } from "../../../src/protocol/errors.js"
import type { InferRequest } from "../../../src/protocol/messages.js"
import { checkInputs, checkOutputs, type ModelSignature } from "../../../src/model/signature.js"

const iris: ModelSignature = {
  format: "layers",
  inputs: [{ name: "measurements", dtype: "float32", shape: [null, 4] }],
  outputs: [{ name: "species", dtype: "float32", shape: [null, 3] }]
}
const twoInputs: ModelSignature = {
  format: "layers",
  inputs: [{ name: "a", dtype: "float32", shape: [null, 3] }, { name: "b", dtype: "float32", shape: [null, 2] }],
  outputs: [{ name: "scores", dtype: "float32", shape: [null, 2] }]
}

const tensor = (shape: Array<number>, dtype: "float32" | "int32" = "float32") => ({
  kind: "tensor" as const,
  tensor: { dtype, shape, data: dtype === "float32" ? new Float32Array(shape.reduce((a, b) => a * b, 1)) : new Int32Array(shape.reduce((a, b) => a * b, 1)) }
})

describe("checkInputs", () => {
  it("accepts a single unnamed input for a one-input model, under the input's name", () => {
    const request: InferRequest = { inputs: { kind: "single", value: tensor([2, 4]) } }
    const checked = checkInputs(iris, request)
    expect(checked).not.toBeInstanceOf(BadInput)
    expect(Object.keys(checked)).toEqual(["measurements"])
  })

  it("converts nested numbers to the input's dtype", () => {
    const request: InferRequest = { inputs: { kind: "single", value: { kind: "nested", shape: [1, 4], values: [1, 2, 3, 4] } } }
    const checked = checkInputs(iris, request) as Record<string, { data: unknown }>
    expect(checked["measurements"]!.data).toEqual(Float32Array.from([1, 2, 3, 4]))
  })

  it("says expected vs received for shape and dtype", () => {
    const wrongShape = checkInputs(iris, { inputs: { kind: "single", value: tensor([2, 5]) } })
    expect(wrongShape).toBeInstanceOf(BadInput)
    expect((wrongShape as BadInput).message).toContain("expected shape [?, 4], received [2, 5]")
    const wrongDtype = checkInputs(iris, { inputs: { kind: "single", value: tensor([2, 4], "int32") } })
    expect((wrongDtype as BadInput).message).toContain("expected dtype float32, received int32")
  })

  it("names missing and unknown inputs", () => {
    const missing = checkInputs(twoInputs, { inputs: { kind: "named", values: { a: tensor([1, 3]) } } })
    expect((missing as BadInput).message).toContain('missing input "b"')
    const unknown = checkInputs(twoInputs, { inputs: { kind: "named", values: { a: tensor([1, 3]), b: tensor([1, 2]), c: tensor([1]) } } })
    expect((unknown as BadInput).message).toContain('unknown input "c"')
    const single = checkInputs(twoInputs, { inputs: { kind: "single", value: tensor([1, 3]) } })
    expect((single as BadInput).message).toContain("2 named inputs")
  })
})

describe("checkOutputs", () => {
  it("accepts known names and names unknown ones", () => {
    expect(checkOutputs(iris, undefined)).toBeUndefined()
    expect(checkOutputs(iris, ["species"])).toBeUndefined()
    expect(checkOutputs(iris, ["petals"])?.message).toContain('unknown output "petals"')
  })
})
