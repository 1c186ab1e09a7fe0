// Decoded requests checked against a model signature (src/model/signature.ts): input names,
// dtypes, ranks, fixed and dynamic dims, nested shorthand, batch agreement, output names.
import { describe, expect, it } from "vitest"
import { checkInputs, checkOutputs } from "../../../src/model/signature.js"
import type { ModelSignature } from "../../../src/model/specs.js"
import { decodeRequest, encodeRequest, type InferInputs } from "../../../src/protocol/codec.js"
import { BadInput } from "../../../src/protocol/errors.js"
import type { InferRequest, InputValue } from "../../../src/protocol/messages.js"
import type { DType, HostTensor } from "../../../src/protocol/tensor.js"

const single: ModelSignature = {
  format: "layers",
  inputs: [{ name: "features", dtype: "float32", shape: [null, 4] }],
  outputs: [{ name: "probs", dtype: "float32", shape: [null, 3] }]
}

const pair: ModelSignature = {
  format: "graph",
  inputs: [
    { name: "tokens", dtype: "int32", shape: [null, 5] },
    { name: "mask", dtype: "bool", shape: [null, 5] }
  ],
  outputs: [
    { name: "logits", dtype: "float32", shape: [null, 2] },
    { name: "embedding:1", dtype: "float32", shape: [null, 8] }
  ]
}

const fixedBatch: ModelSignature = {
  format: "graph",
  inputs: [{ name: "image", dtype: "float32", shape: [1, 2, 2, 3] }],
  outputs: [{ name: "y", dtype: "float32", shape: [1, 10] }]
}

const product = (shape: ReadonlyArray<number>) => shape.reduce((a, b) => a * b, 1)
const tensorOf = (dtype: DType, shape: Array<number>): InputValue => {
  const n = product(shape)
  const data = dtype === "float32" ? new Float32Array(n) : dtype === "int32" ? new Int32Array(n) : new Uint8Array(n)
  return { kind: "tensor", tensor: { dtype, shape, data } }
}
const nested = (shape: Array<number>, values: Array<number>): InputValue => ({ kind: "nested", shape, values })
const one = (value: InputValue): InferRequest => ({ inputs: { kind: "single", value } })
const named = (values: Record<string, InputValue>): InferRequest => ({ inputs: { kind: "named", values } })

const ok = (result: Record<string, HostTensor> | BadInput): Record<string, HostTensor> => {
  if (result instanceof BadInput) throw new Error(`unexpected BadInput: ${result.message}`)
  return result
}
const bad = (result: Record<string, HostTensor> | BadInput, ...fragments: Array<string>): BadInput => {
  if (!(result instanceof BadInput)) throw new Error(`expected BadInput, got inputs ${Object.keys(result).join(", ")}`)
  for (const f of fragments) expect(result.message).toContain(f)
  return result
}

describe("checkInputs", () => {
  it("a single unnamed input goes to a one-input model under the input's name", () => {
    const checked = ok(checkInputs(single, one(tensorOf("float32", [2, 4]))))
    expect(Object.keys(checked)).toEqual(["features"])
    expect(checked.features!.shape).toEqual([2, 4])
  })

  it("the same input may be named", () => {
    const checked = ok(checkInputs(single, named({ features: tensorOf("float32", [1, 4]) })))
    expect(Object.keys(checked)).toEqual(["features"])
  })

  it("named inputs go to a many-input model, keyed by name", () => {
    const checked = ok(checkInputs(pair, named({ mask: tensorOf("bool", [3, 5]), tokens: tensorOf("int32", [3, 5]) })))
    expect(Object.keys(checked).sort()).toEqual(["mask", "tokens"])
    expect(checked.tokens!.dtype).toBe("int32")
    expect(checked.mask!.dtype).toBe("bool")
  })

  it("one unnamed input to a many-input model says how many named inputs it takes", () => {
    bad(
      checkInputs(pair, one(tensorOf("int32", [1, 5]))),
      "takes 2 named inputs",
      `"tokens", "mask"`,
      "received one unnamed input"
    )
  })

  it("an unknown input name is named, with the names the model takes", () => {
    const e = bad(
      checkInputs(
        pair,
        named({ tokens: tensorOf("int32", [1, 5]), mask: tensorOf("bool", [1, 5]), extra: tensorOf("int32", [1]) })
      ),
      `unknown input "extra"`,
      `this model takes "tokens", "mask"`
    )
    expect(e.input).toBe("extra")
  })

  it("a missing input is named", () => {
    const e = bad(
      checkInputs(pair, named({ tokens: tensorOf("int32", [1, 5]) })),
      `missing input "mask"`,
      `"tokens", "mask"`
    )
    expect(e.input).toBe("mask")
  })

  it("a wrong dtype names the input, expected and received dtype", () => {
    const e = bad(
      checkInputs(single, one(tensorOf("int32", [2, 4]))),
      `input "features"`,
      "expected dtype float32, received int32"
    )
    expect(e.input).toBe("features")
    bad(
      checkInputs(pair, named({ tokens: tensorOf("int32", [1, 5]), mask: tensorOf("float32", [1, 5]) })),
      `input "mask"`,
      "expected dtype bool, received float32"
    )
  })

  it("a wrong rank names expected and received shape, ? for dynamic dims", () => {
    bad(checkInputs(single, one(tensorOf("float32", [4]))), `input "features"`, "expected shape [?, 4], received [4]")
    bad(checkInputs(single, one(tensorOf("float32", [1, 1, 4]))), "expected shape [?, 4], received [1, 1, 4]")
  })

  it("a wrong fixed dim is refused, including a fixed batch dim", () => {
    bad(checkInputs(single, one(tensorOf("float32", [2, 5]))), "expected shape [?, 4], received [2, 5]")
    bad(
      checkInputs(fixedBatch, one(tensorOf("float32", [2, 2, 2, 3]))),
      `input "image"`,
      "expected shape [1, 2, 2, 3], received [2, 2, 2, 3]"
    )
    ok(checkInputs(fixedBatch, one(tensorOf("float32", [1, 2, 2, 3]))))
  })

  it("the dynamic batch dim accepts any size, including 0", () => {
    for (const batch of [0, 1, 7, 1000])
      expect(ok(checkInputs(single, one(tensorOf("float32", [batch, 4])))).features!.shape).toEqual([batch, 4])
  })

  it("nested arrays take the spec's dtype", () => {
    const f = ok(checkInputs(single, one(nested([1, 4], [0.5, 1, 2, 3])))).features!
    expect(f.dtype).toBe("float32")
    expect(f.data).toEqual(Float32Array.from([0.5, 1, 2, 3]))
    const both = ok(
      checkInputs(pair, named({ tokens: nested([1, 5], [1, 2, 3, 4, 5]), mask: nested([1, 5], [1, 1, 0, 0, 1]) }))
    )
    expect(both.tokens!.data).toEqual(Int32Array.from([1, 2, 3, 4, 5]))
    expect(both.mask!.dtype).toBe("bool")
    expect(both.mask!.data).toEqual(Uint8Array.from([1, 1, 0, 0, 1]))
  })

  it("nested arrays from a real JSON body are checked like tensors", () => {
    const decode = (inputs: InferInputs) => {
      const r = decodeRequest(encodeRequest(inputs, undefined, "json"), "json")
      if (r instanceof BadInput) throw new Error(r.message)
      return r
    }
    ok(
      checkInputs(
        single,
        decode([
          [1, 2, 3, 4],
          [5, 6, 7, 8]
        ])
      )
    )
    bad(checkInputs(single, decode([[1, 2, 3]])), "expected shape [?, 4], received [1, 3]")
  })

  // Truncating 1.5 to 1 (or wrapping 2^31 to -2^31) would silently compute on other numbers.
  it("an int32 spec rejects non-integer or out-of-range nested values, naming the input and the value", () => {
    const mask = nested([1, 5], [1, 1, 1, 1, 1])
    const e = bad(
      checkInputs(pair, named({ tokens: nested([1, 5], [1, 2, 3.5, 4, 5]), mask })),
      `input "tokens"`,
      "expected int32 values",
      "received 3.5 at flat index 2"
    )
    expect(e.input).toBe("tokens")
    bad(
      checkInputs(pair, named({ tokens: nested([1, 5], [1, 2, 3, 4, 2 ** 31]), mask })),
      "expected int32 values",
      `received ${2 ** 31} at flat index 4`
    )
    ok(checkInputs(pair, named({ tokens: nested([1, 5], [-(2 ** 31), 2 ** 31 - 1, 0, -1, 1]), mask })))
  })

  it("a bool spec takes only 0/1 (or true/false) nested values", () => {
    const tokens = nested([1, 5], [1, 2, 3, 4, 5])
    bad(
      checkInputs(pair, named({ tokens, mask: nested([1, 5], [1, 0, 2, 0, 1]) })),
      `input "mask"`,
      "expected bool values",
      "received 2 at flat index 2"
    )
    bad(checkInputs(pair, named({ tokens, mask: nested([1, 5], [1, 0, 0.5, 0, 1]) })), "received 0.5 at flat index 2")
  })

  it("a float32 spec takes any number", () => {
    ok(checkInputs(single, one(nested([1, 4], [0.1, -1e30, 1e-40, 2 ** 31]))))
  })

  // tf.LayersModel.predict / GraphModel.execute need one batch size; a mismatch is the caller's
  // mistake (400), not a runtime failure (500).
  it("inputs whose dynamic batch dims disagree are refused, naming both", () => {
    const e = bad(
      checkInputs(pair, named({ tokens: tensorOf("int32", [2, 5]), mask: tensorOf("bool", [3, 5]) })),
      `input "mask"`,
      `batch size 3 differs from input "tokens"'s 2`
    )
    expect(e.input).toBe("mask")
    bad(
      checkInputs(pair, named({ tokens: nested([1, 5], [1, 2, 3, 4, 5]), mask: tensorOf("bool", [0, 5]) })),
      "batch size 0 differs"
    )
    ok(checkInputs(pair, named({ tokens: tensorOf("int32", [4, 5]), mask: nested([4, 5], Array(20).fill(1)) })))
  })
})

describe("checkOutputs", () => {
  it("no requested outputs, or only known ones, is fine", () => {
    expect(checkOutputs(pair, undefined)).toBeUndefined()
    expect(checkOutputs(pair, [])).toBeUndefined()
    expect(checkOutputs(pair, ["logits"])).toBeUndefined()
    expect(checkOutputs(pair, ["embedding:1", "logits"])).toBeUndefined()
  })

  it("an unknown output is named, with the outputs the model has", () => {
    const e = checkOutputs(pair, ["logits", "scores"])
    expect(e).toBeInstanceOf(BadInput)
    expect(e!.message).toContain(`unknown output "scores"`)
    expect(e!.message).toContain(`this model has "logits", "embedding:1"`)
    expect(e!.message).not.toContain(`unknown output "logits"`)
  })
})
