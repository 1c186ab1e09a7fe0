// decodeRequest's refusals: every malformed body is a BadInput (never a throw) whose message
// says what was expected and what arrived, including hostile input (garbage, deep nesting).
import fc from "fast-check"
import { Packr } from "msgpackr"
import { describe, expect, it } from "vitest"
import { decodeRequest, type Encoding } from "../../../src/protocol/codec.js"
import { BadInput } from "../../../src/protocol/errors.js"
import type { InferRequest, InputValue } from "../../../src/protocol/messages.js"
import { flattenNested, MAX_RANK } from "../../../src/protocol/nested.js"
import { elementCount } from "../../../src/protocol/tensor.js"

const packr = new Packr({ useRecords: false, mapsAsObjects: true })
const json = (value: unknown): Uint8Array => new TextEncoder().encode(JSON.stringify(value))
const msgpack = (value: unknown): Uint8Array => packr.pack(value)
const bodyIn = (encoding: Encoding, value: unknown) => (encoding === "json" ? json(value) : msgpack(value))
const ENCODINGS: ReadonlyArray<Encoding> = ["msgpack", "json"]

const badInput = (result: InferRequest | BadInput): BadInput => {
  if (!(result instanceof BadInput)) throw new Error(`expected BadInput, decoded ${JSON.stringify(result)}`)
  expect(result._tag).toBe("BadInput")
  return result
}

/** Asserts the message mentions each fragment, and the expected/received pair when asked. */
const expectMessage = (result: InferRequest | BadInput, ...fragments: Array<string>): BadInput => {
  const error = badInput(result)
  for (const f of fragments) expect(error.message).toContain(f)
  return error
}

const deepArray = (depth: number, leaf: string = "1") => `${"[".repeat(depth)}${leaf}${"]".repeat(depth)}`

describe("decodeRequest refuses malformed bodies with a BadInput", () => {
  it("empty body, in both encodings", () => {
    for (const encoding of ENCODINGS) expectMessage(decodeRequest(new Uint8Array(0), encoding), "empty body")
  })

  it("bytes that are not JSON / not msgpack name the encoding and the hint for JSON", () => {
    expectMessage(decodeRequest(new TextEncoder().encode("{inputs: 1"), "json"), "not valid JSON")
    // an array of two elements that ends after the first
    expectMessage(decodeRequest(Uint8Array.of(0x92, 0x01), "msgpack"), "not valid msgpack", "application/json")
    // a JSON body sent without the JSON Content-Type
    expectMessage(
      decodeRequest(new TextEncoder().encode(`{"inputs":[1]}`), "msgpack"),
      "not valid msgpack",
      "Content-Type: application/json"
    )
    // a msgpack str header promising more bytes than there are
    expectMessage(decodeRequest(Uint8Array.of(0xdb, 0xff, 0xff, 0xff, 0xff, 0x41), "msgpack"), "not valid msgpack")
  })

  it("a body that is not an object, or has no inputs, says the body shape expected and what came", () => {
    for (const encoding of ENCODINGS) {
      expectMessage(
        decodeRequest(bodyIn(encoding, [1, 2, 3]), encoding),
        `expected a body {"inputs"`,
        "received an array of 3"
      )
      expectMessage(
        decodeRequest(bodyIn(encoding, "hello"), encoding),
        `expected a body {"inputs"`,
        `received the string "hello"`
      )
      expectMessage(decodeRequest(bodyIn(encoding, 42), encoding), `expected a body {"inputs"`, "received number 42")
      expectMessage(decodeRequest(bodyIn(encoding, null), encoding), `expected a body {"inputs"`, "received null")
      expectMessage(
        decodeRequest(bodyIn(encoding, { input: [1] }), encoding),
        `expected a body {"inputs"`,
        "received an object"
      )
    }
  })

  it("inputs that are neither a tensor, nested arrays nor a map", () => {
    for (const encoding of ENCODINGS) {
      expectMessage(
        decodeRequest(bodyIn(encoding, { inputs: "x" }), encoding),
        "inputs: expected a tensor",
        `received the string "x"`
      )
      expectMessage(
        decodeRequest(bodyIn(encoding, { inputs: {} }), encoding),
        "expected at least one input",
        "received an empty object"
      )
      const named = expectMessage(
        decodeRequest(bodyIn(encoding, { inputs: { a: [1], b: "x" } }), encoding),
        "inputs.b:",
        "expected a tensor"
      )
      expect(named.input).toBe("b")
    }
  })

  it("a bad dtype lists the dtypes served and the one received", () => {
    for (const encoding of ENCODINGS) {
      const e = expectMessage(
        decodeRequest(bodyIn(encoding, { inputs: { x: { dtype: "float64", shape: [1], data: [1] } } }), encoding),
        "inputs.x: dtype: expected one of float32, int32, int64, bool",
        `received the string "float64"`
      )
      expect(e.input).toBe("x")
      expectMessage(
        decodeRequest(bodyIn(encoding, { inputs: { dtype: 3, shape: [1], data: [1] } }), encoding),
        "inputs: dtype:",
        "received number 3"
      )
    }
  })

  it("shape not an array, negative, non-integer or deeper than MAX_RANK", () => {
    const cases: Array<[unknown, string]> = [
      ["2,2", `received the string "2,2"`],
      [4, "received number 4"],
      [[2, -1], "received an array of 2"],
      [[1.5], "received an array of 1"],
      [["2"], "received an array of 1"],
      [Array(MAX_RANK + 1).fill(1), `received an array of ${MAX_RANK + 1}`]
    ]
    for (const encoding of ENCODINGS) {
      for (const [shape, received] of cases) {
        expectMessage(
          decodeRequest(bodyIn(encoding, { inputs: { dtype: "float32", shape, data: [1] } }), encoding),
          `inputs: shape: expected an array of at most ${MAX_RANK} non-negative integers`,
          received
        )
      }
    }
  })

  it("data length ≠ shape product, as a flat array (both encodings)", () => {
    for (const encoding of ENCODINGS) {
      expectMessage(
        decodeRequest(bodyIn(encoding, { inputs: { dtype: "int32", shape: [2, 2], data: [1, 2, 3] } }), encoding),
        "shape [2,2] needs 4 values, received 3"
      )
    }
  })

  it("data length ≠ shape product, as bytes (msgpack bin)", () => {
    expectMessage(
      decodeRequest(msgpack({ inputs: { dtype: "float32", shape: [2, 2], data: new Float32Array(3) } }), "msgpack"),
      "shape [2,2] of float32 needs 4 elements, received 12 bytes"
    )
    // not a whole number of elements
    expectMessage(
      decodeRequest(msgpack({ inputs: { dtype: "int32", shape: [1], data: new Uint8Array(5) } }), "msgpack"),
      "needs 1 elements, received 5 bytes"
    )
    expectMessage(
      decodeRequest(msgpack({ inputs: { dtype: "bool", shape: [4], data: new Uint8Array(5) } }), "msgpack"),
      "needs 4 elements, received 5 bytes"
    )
  })

  // checkInputs refuses non-integral nested values for int32/bool inputs; an explicit tensor
  // with a flat number array must not be truncated or wrapped silently either.
  it("flat data values that the dtype cannot hold (int32: 1.5, 2^31; bool: 2)", () => {
    for (const encoding of ENCODINGS) {
      expectMessage(
        decodeRequest(bodyIn(encoding, { inputs: { dtype: "int32", shape: [2], data: [1, 1.5] } }), encoding),
        "data[1]",
        "1.5"
      )
      expectMessage(
        decodeRequest(bodyIn(encoding, { inputs: { dtype: "int32", shape: [1], data: [2 ** 31] } }), encoding),
        "data[0]",
        String(2 ** 31)
      )
      expectMessage(
        decodeRequest(bodyIn(encoding, { inputs: { dtype: "bool", shape: [1], data: [2] } }), encoding),
        "data[0]",
        "2"
      )
    }
  })

  it("data that is neither bytes nor an array of numbers", () => {
    for (const encoding of ENCODINGS) {
      expectMessage(
        decodeRequest(bodyIn(encoding, { inputs: { dtype: "float32", shape: [1], data: "AAAA" } }), encoding),
        "data: expected raw bytes or a flat number array"
      )
      expectMessage(
        decodeRequest(bodyIn(encoding, { inputs: { dtype: "float32", shape: [2], data: [1, "2"] } }), encoding),
        "data[1]: expected a number",
        `received the string "2"`
      )
      expectMessage(
        decodeRequest(bodyIn(encoding, { inputs: { dtype: "float32", shape: [2], data: [1, [2]] } }), encoding),
        "data[1]: expected a number",
        "received an array of 1"
      )
    }
  })

  it("ragged nested arrays say where and what length was expected", () => {
    for (const encoding of ENCODINGS) {
      expectMessage(
        decodeRequest(bodyIn(encoding, { inputs: [[1, 2], [3]] }), encoding),
        "ragged nesting at [1]",
        "expected an array of 2",
        "received an array of 1"
      )
      expectMessage(
        decodeRequest(bodyIn(encoding, { inputs: [[1, 2], 3] }), encoding),
        "ragged nesting at [1]",
        "received number 3"
      )
      expectMessage(
        decodeRequest(bodyIn(encoding, { inputs: [1, [2]] }), encoding),
        "expected a number at [1]",
        "received an array of 1"
      )
      expectMessage(
        decodeRequest(bodyIn(encoding, { inputs: [[1, "a"]] }), encoding),
        "expected a number at [0][1]",
        `received the string "a"`
      )
      expectMessage(
        decodeRequest(bodyIn(encoding, { inputs: { x: [[1], [2, 3]] } }), encoding),
        "inputs.x: ragged nesting at [1]"
      )
    }
  })

  it("nested arrays up to MAX_RANK levels decode; one more level is a BadInput", () => {
    for (const encoding of ENCODINGS) {
      const ok = decodeRequest(new TextEncoder().encode(`{"inputs":${deepArray(MAX_RANK)}}`), "json")
      expect(ok).not.toBeInstanceOf(BadInput)
      const tooDeep = JSON.parse(deepArray(MAX_RANK + 1)) as unknown
      expectMessage(
        decodeRequest(bodyIn(encoding, { inputs: tooDeep }), encoding),
        `nesting deeper than ${MAX_RANK} levels`
      )
    }
  })

  it("10 000 levels of JSON nesting anywhere in the body is a BadInput, not a throw", () => {
    const bodies = [
      `{"inputs":${deepArray(10_000)}}`,
      `{"inputs":{"x":${deepArray(10_000)}}}`,
      `{"inputs":{"dtype":"float32","shape":${deepArray(10_000)},"data":[1]}}`,
      `{"inputs":{"dtype":"float32","shape":[1],"data":${deepArray(10_000)}}}`,
      `{"inputs":[1],"outputs":${deepArray(10_000, `"y"`)}}`,
      `{"inputs":${'{"a":'.repeat(10_000)}1${"}".repeat(10_000)}}`
    ]
    for (const body of bodies) {
      let result: InferRequest | BadInput | undefined
      expect(() => (result = decodeRequest(new TextEncoder().encode(body), "json"))).not.toThrow()
      badInput(result!)
    }
  })

  it("100 000 levels of msgpack nesting is a BadInput, not a throw", () => {
    const depth = 100_000
    const head = [0x81, 0xa6, ...new TextEncoder().encode("inputs")]
    const body = new Uint8Array(head.length + depth + 1)
    body.set(head)
    body.fill(0x91, head.length, head.length + depth) // fixarray of one element, over and over
    body[body.length - 1] = 0x01
    expect(() => decodeRequest(body, "msgpack")).not.toThrow()
    badInput(decodeRequest(body, "msgpack"))
  })

  it("outputs that are not an array of strings", () => {
    for (const encoding of ENCODINGS) {
      expectMessage(
        decodeRequest(bodyIn(encoding, { inputs: [1], outputs: "y" }), encoding),
        "outputs: expected a non-empty array of output names",
        `received the string "y"`
      )
      expectMessage(
        decodeRequest(bodyIn(encoding, { inputs: [1], outputs: ["y", 2] }), encoding),
        "outputs: expected a non-empty array of output names",
        "received an array of 2"
      )
      expectMessage(
        decodeRequest(bodyIn(encoding, { inputs: [1], outputs: { y: 1 } }), encoding),
        "outputs: expected a non-empty array of output names",
        "received an object"
      )
      expectMessage(
        decodeRequest(bodyIn(encoding, { inputs: [1], outputs: [] }), encoding),
        "outputs: expected a non-empty array of output names",
        "received an array of 0"
      )
      // absent or null outputs mean "all outputs"
      expect(decodeRequest(bodyIn(encoding, { inputs: [1], outputs: null }), encoding)).toEqual({
        inputs: { kind: "single", value: { kind: "nested", shape: [1], values: [1] } }
      })
    }
  })
})

describe("decodeRequest gives hostile bodies nothing to work with", () => {
  it('keeps "__proto__" and Object.prototype names as input names (unknown to any model), never as a prototype', () => {
    const row = "[[1, 2, 3, 4]]"
    for (const name of ["__proto__", "constructor", "toString"]) {
      const body = new TextEncoder().encode(`{"inputs": {"measurements": ${row}, ${JSON.stringify(name)}: ${row}}}`)
      const decoded = decodeRequest(body, "json")
      if (decoded instanceof BadInput || decoded.inputs.kind !== "named") throw new Error("expected named inputs")
      expect(Object.keys(decoded.inputs.values).sort()).toEqual([name, "measurements"].sort())
      expect(Object.getPrototypeOf(decoded.inputs.values)).toBeNull()
    }
  })

  it("refuses JSON nested deeper than 64 levels before parsing it; brackets inside strings do not count", () => {
    const deep = new TextEncoder().encode(`{"inputs": ${deepArray(64)}}`)
    expectMessage(decodeRequest(deep, "json"), "body is JSON nested deeper than 64 levels")
    const quoted = json({ inputs: [[1, 2, 3, 4]], note: `"${"[".repeat(200)}\\"` })
    expect(decodeRequest(quoted, "json")).not.toBeInstanceOf(BadInput)
  })

  it("refuses msgpack structured-clone references: 140 KB may not stand for 400 million values", () => {
    const inner = new Array<number>(20_000).fill(1)
    const body = new Packr({ useRecords: false, structuredClone: true }).pack({ inputs: new Array(20_000).fill(inner) })
    expect(body.byteLength).toBeLessThan(200_000)
    expectMessage(decodeRequest(body, "msgpack"), "Structured clone extension is disabled")
  })

  it("refuses nesting that holds more values than the body has bytes, before walking it", () => {
    const row = new Array<number>(1000).fill(1)
    const shared = new Array(1000).fill(row) // what references would decode to: 10^6 values from one row
    expect(flattenNested(shared, 5000)).toEqual({
      ok: false,
      reason: "nesting of shape [1000, 1000] holds 1000000 values; the body has room for at most 5000"
    })
    expect(flattenNested(shared).ok).toBe(true)
    // a body's own nesting always fits its bytes
    expect(decodeRequest(json({ inputs: [row, row] }), "json")).not.toBeInstanceOf(BadInput)
  })
})

/** What any successful decode guarantees: tensors whose data fits their shape, nested values that fill theirs. */
const expectConsistent = (request: InferRequest): void => {
  const check = (value: InputValue) => {
    if (value.kind === "tensor") {
      expect(value.tensor.shape.length).toBeLessThanOrEqual(MAX_RANK)
      expect(value.tensor.data.length).toBe(elementCount(value.tensor.shape))
    } else {
      expect(value.shape.length).toBeLessThanOrEqual(MAX_RANK)
      expect(value.values.length).toBe(elementCount(value.shape))
      // numbers, or bigints where msgpack carried 64-bit integers (int64 inputs keep them exact)
      for (const v of value.values) expect(["number", "bigint"]).toContain(typeof v)
    }
  }
  if (request.inputs.kind === "single") check(request.inputs.value)
  else {
    expect(Object.keys(request.inputs.values).length).toBeGreaterThan(0)
    Object.values(request.inputs.values).forEach(check)
  }
  if (request.outputs !== undefined) for (const o of request.outputs) expect(typeof o).toBe("string")
}

const neverThrows = (bytes: Uint8Array, encoding: Encoding): void => {
  let result: InferRequest | BadInput | undefined
  expect(() => (result = decodeRequest(bytes, encoding))).not.toThrow()
  if (result instanceof BadInput) expect(result.message.length).toBeGreaterThan(0)
  else expectConsistent(result!)
}

describe("decodeRequest on arbitrary input (property)", () => {
  it("random bytes never throw: always a request or a BadInput", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 256 }), fc.constantFrom<Encoding>("msgpack", "json"), (bytes, encoding) =>
        neverThrows(bytes, encoding)
      ),
      { numRuns: 2000 }
    )
  })

  it("random msgpack-looking bytes behind a valid prefix never throw", () => {
    const prefix = msgpack({ inputs: null }).subarray(0, -1) // the map up to the value of inputs
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 1, maxLength: 64 }), (tail) => {
        const body = new Uint8Array(prefix.length + tail.length)
        body.set(prefix)
        body.set(tail, prefix.length)
        neverThrows(body, "msgpack")
      }),
      { numRuns: 2000 }
    )
  })

  it("any JSON value as the body, or as inputs/outputs, never throws", () => {
    fc.assert(
      fc.property(fc.jsonValue(), fc.jsonValue(), fc.boolean(), (inputs, outputs, withOutputs) => {
        neverThrows(json(inputs), "json")
        neverThrows(json(withOutputs ? { inputs, outputs } : { inputs }), "json")
      })
    )
  })

  it("any msgpack-encodable value as inputs never throws", () => {
    fc.assert(
      fc.property(
        fc.anything({ withTypedArray: true, withMap: true, withSet: true, withBigInt: true, withDate: true }),
        (inputs) => {
          let body: Uint8Array
          try {
            body = msgpack({ inputs })
          } catch {
            return // not encodable by msgpackr; nothing to send
          }
          neverThrows(body, "msgpack")
        }
      )
    )
  })

  it("tensor-shaped objects with random fields never throw", () => {
    const field = fc.oneof(
      fc.jsonValue(),
      fc.uint8Array({ maxLength: 16 }),
      fc.array(fc.integer({ min: -2, max: 4 }), { maxLength: 10 })
    )
    fc.assert(
      fc.property(
        fc.oneof(fc.constantFrom("float32", "int32", "bool"), fc.jsonValue()),
        field,
        field,
        (dtype, shape, data) => {
          neverThrows(msgpack({ inputs: { dtype, shape, data } }), "msgpack")
        }
      )
    )
  })
})
