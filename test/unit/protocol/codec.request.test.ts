// Infer requests as a client encodes them (encodeRequest) and an actor decodes them
// (decodeRequest): every dtype, typed-array bins and flat arrays, byte order, alignment, zero-copy.
import fc from "fast-check"
import { Packr, unpack } from "msgpackr"
import { describe, expect, it } from "vitest"
import {
  decodeRequest,
  type Encoding,
  encodeRequest,
  encodingOf,
  type TensorInput
} from "../../../src/protocol/codec.js"
import { BadInput } from "../../../src/protocol/errors.js"
import {
  anyPlainTensorArb,
  DTYPES,
  expectTensor,
  littleEndianBytes,
  plainTensorArb,
  singleTensor,
  typed
} from "./tensorArbitraries.js"

const ENCODINGS: ReadonlyArray<Encoding> = ["msgpack", "json"]
const utf8 = new TextEncoder()

/** A copy of `body` placed `shift` bytes into a fresh buffer, so its bin lands at a chosen alignment. */
const shifted = (body: Uint8Array, shift: number): { buffer: Uint8Array; view: Uint8Array } => {
  const buffer = new Uint8Array(body.byteLength + shift)
  buffer.set(body, shift)
  return { buffer, view: buffer.subarray(shift) }
}

describe("encodingOf", () => {
  it("reads JSON from the Content-Type header and defaults to msgpack", () => {
    expect(encodingOf(undefined)).toBe("msgpack")
    expect(encodingOf("application/json")).toBe("json")
    expect(encodingOf("Application/JSON; charset=utf-8")).toBe("json")
    expect(encodingOf("application/msgpack")).toBe("msgpack")
    expect(encodingOf("text/plain")).toBe("msgpack")
  })
})

describe("encodeRequest → decodeRequest", () => {
  for (const dtype of DTYPES) {
    for (const encoding of ENCODINGS) {
      it(`${dtype} in ${encoding}: a typed array round-trips to the same dtype, shape and values`, () => {
        fc.assert(
          fc.property(plainTensorArb(dtype, encoding === "json"), (t) => {
            const body = encodeRequest({ dtype, shape: t.shape, data: typed(dtype, t.values) }, undefined, encoding)
            expectTensor(singleTensor(decodeRequest(body, encoding)), t)
          })
        )
      })

      it(`${dtype} in ${encoding}: a flat number array round-trips to the same dtype, shape and values`, () => {
        fc.assert(
          fc.property(plainTensorArb(dtype, true), (t) => {
            const body = encodeRequest({ dtype, shape: t.shape, data: t.values }, undefined, encoding)
            expectTensor(singleTensor(decodeRequest(body, encoding)), t)
          })
        )
      })
    }
  }

  it("bool data may be sent as JSON booleans", () => {
    const body = utf8.encode(JSON.stringify({ inputs: { dtype: "bool", shape: [3], data: [true, false, true] } }))
    expectTensor(singleTensor(decodeRequest(body, "json")), { dtype: "bool", shape: [3], values: [1, 0, 1] })
  })

  it("named inputs and requested outputs survive both encodings", () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...ENCODINGS),
        fc.dictionary(fc.stringMatching(/^[a-z_][a-z0-9_]{0,8}$/), anyPlainTensorArb(true), { minKeys: 1, maxKeys: 4 }),
        fc.option(fc.array(fc.string(), { minLength: 1, maxLength: 3 }), { nil: undefined }),
        (encoding, tensors, outputs) => {
          fc.pre(!Object.hasOwn(tensors, "dtype") && !Object.hasOwn(tensors, "__proto__"))
          const inputs: Record<string, TensorInput> = {}
          for (const [name, t] of Object.entries(tensors))
            inputs[name] = { dtype: t.dtype, shape: t.shape, data: typed(t.dtype, t.values) }
          const decoded = decodeRequest(encodeRequest(inputs, outputs, encoding), encoding)
          if (decoded instanceof BadInput) throw new Error(decoded.message)
          expect(decoded.outputs).toEqual(outputs)
          if (decoded.inputs.kind !== "named") throw new Error(`expected named inputs, got ${decoded.inputs.kind}`)
          expect(Object.keys(decoded.inputs.values).sort()).toEqual(Object.keys(tensors).sort())
          for (const [name, t] of Object.entries(tensors)) {
            const value = decoded.inputs.values[name]
            if (value?.kind !== "tensor") throw new Error(`input ${name} is not a tensor`)
            expectTensor(value.tensor, t)
          }
        }
      )
    )
  })

  it("nested number arrays decode to their shape and row-major values, with no dtype yet", () => {
    for (const encoding of ENCODINGS) {
      const decoded = decodeRequest(
        encodeRequest(
          [
            [1, 2, 3],
            [4, 5, 6]
          ],
          ["y"],
          encoding
        ),
        encoding
      )
      expect(decoded).toEqual({
        inputs: { kind: "single", value: { kind: "nested", shape: [2, 3], values: [1, 2, 3, 4, 5, 6] } },
        outputs: ["y"]
      })
      const scalar = decodeRequest(encodeRequest({ x: [] }, undefined, encoding), encoding)
      expect(scalar).toEqual({ inputs: { kind: "named", values: { x: { kind: "nested", shape: [0], values: [] } } } })
    }
  })

  it("a typed-array view into a larger buffer sends only its own elements", () => {
    const backing = new Float32Array([9, 1.5, -2.25, 3, 9])
    const body = encodeRequest({ dtype: "float32", shape: [3], data: backing.subarray(1, 4) }, undefined, "msgpack")
    expectTensor(singleTensor(decodeRequest(body, "msgpack")), {
      dtype: "float32",
      shape: [3],
      values: [1.5, -2.25, 3]
    })
  })

  // encodeRequest accepts any ArrayLike<number> as data (TensorInput), and JSON sends the values;
  // msgpack must send the same values, not the raw bytes of another element type.
  it("a typed array of another element type than the dtype sends its values in msgpack as in JSON", () => {
    const input: TensorInput = { dtype: "float32", shape: [3], data: new Int32Array([1, 2, 3]) }
    for (const encoding of ENCODINGS) {
      const decoded = singleTensor(decodeRequest(encodeRequest(input, undefined, encoding), encoding))
      expect(Array.from(decoded.data as Float32Array)).toEqual([1, 2, 3])
    }
  })

  // A Node Buffer is a Uint8Array (the natural container for bool data), but JSON.stringify
  // calls Buffer#toJSON before the replacer sees it.
  it("a Buffer as bool data encodes in JSON as a flat array", () => {
    const input: TensorInput = { dtype: "bool", shape: [3], data: Buffer.from([1, 0, 1]) }
    for (const encoding of ENCODINGS) {
      const decoded = decodeRequest(encodeRequest(input, undefined, encoding), encoding)
      expect(decoded).not.toBeInstanceOf(BadInput)
      expectTensor(singleTensor(decoded), { dtype: "bool", shape: [3], values: [1, 0, 1] })
    }
  })
})

describe("wire bytes", () => {
  it("a float32 or int32 tensor travels in msgpack as a bin of numpy-style little-endian bytes", () => {
    fc.assert(
      fc.property(fc.constantFrom(...DTYPES), fc.array(fc.float(), { maxLength: 64 }), (dtype, raw) => {
        const values = Array.from(
          typed(
            dtype,
            raw.map((v) => (dtype === "float32" ? v : Number.isFinite(v) ? Math.trunc(v) : 0))
          )
        )
        const body = encodeRequest({ dtype, shape: [values.length], data: typed(dtype, values) }, undefined, "msgpack")
        // any msgpack library sees a plain map whose data is a bin of exactly those bytes
        const plain = unpack(body) as { inputs: { dtype: string; shape: Array<number>; data: Uint8Array } }
        expect(plain.inputs.dtype).toBe(dtype)
        expect(plain.inputs.shape).toEqual([values.length])
        expect(plain.inputs.data).toBeInstanceOf(Uint8Array)
        expect(new Uint8Array(plain.inputs.data)).toEqual(littleEndianBytes(dtype, values))
      })
    )
  })

  it("the bin is a msgpack bin (0xc4/0xc5/0xc6), not an extension type", () => {
    const body = encodeRequest({ dtype: "float32", shape: [2], data: new Float32Array([1, 2]) }, undefined, "msgpack")
    // data is the last key, so the bin header sits just before the last 8 bytes
    expect(body[body.length - 8 - 2]).toBe(0xc4)
    expect(body[body.length - 8 - 1]).toBe(8)
    expect([...body.subarray(body.length - 8)]).toEqual([...littleEndianBytes("float32", [1, 2])])
  })

  it("a hand-built msgpack body (as numpy + any msgpack library would send) decodes", () => {
    const str = (s: string) => [0xa0 | s.length, ...utf8.encode(s)]
    const payload = littleEndianBytes("float32", [0.5, -1, 2, 1e-3])
    const body = Uint8Array.from([
      0x81,
      ...str("inputs"),
      0x83,
      ...str("dtype"),
      ...str("float32"),
      ...str("shape"),
      0x92,
      0x02,
      0x02,
      ...str("data"),
      0xc4,
      payload.length,
      ...payload
    ])
    expectTensor(singleTensor(decodeRequest(body, "msgpack")), {
      dtype: "float32",
      shape: [2, 2],
      values: Array.from(Float32Array.from([0.5, -1, 2, 1e-3]))
    })
  })

  it("decodes correctly at every byte alignment of the bin (msgpackr hands out unaligned slices)", () => {
    fc.assert(
      fc.property(anyPlainTensorArb(), fc.integer({ min: 0, max: 7 }), (t, shift) => {
        const body = encodeRequest(
          { dtype: t.dtype, shape: t.shape, data: typed(t.dtype, t.values) },
          undefined,
          "msgpack"
        )
        const { view } = shifted(body, shift)
        expectTensor(singleTensor(decodeRequest(view, "msgpack")), t)
      })
    )
  })

  it("an aligned bin is viewed in place (zero-copy); a misaligned one is copied once into an aligned array", () => {
    fc.assert(
      fc.property(anyPlainTensorArb(), fc.integer({ min: 0, max: 7 }), (t, shift) => {
        fc.pre(t.values.length > 0)
        const data = typed(t.dtype, t.values)
        // data is the last key, so the raw bytes are the body's last byteLength bytes
        const body = encodeRequest({ dtype: t.dtype, shape: t.shape, data }, undefined, "msgpack")
        const { buffer, view } = shifted(body, shift)
        const binStart = shift + body.byteLength - data.byteLength
        const decoded = singleTensor(decodeRequest(view, "msgpack"))
        expectTensor(decoded, t)
        const aligned = binStart % data.BYTES_PER_ELEMENT === 0
        if (aligned) {
          expect(decoded.data.buffer).toBe(buffer.buffer)
          expect(decoded.data.byteOffset).toBe(binStart)
          // shared memory: writing to the request bytes shows through the decoded tensor
          const bytes = new DataView(buffer.buffer, buffer.byteOffset)
          if (t.dtype === "float32") bytes.setFloat32(binStart, 42.5, true)
          else if (t.dtype === "int32") bytes.setInt32(binStart, -42, true)
          else bytes.setUint8(binStart, 7)
          expect(decoded.data[0]).toBe(t.dtype === "float32" ? 42.5 : t.dtype === "int32" ? -42 : 7)
        } else {
          expect(decoded.data.buffer).not.toBe(buffer.buffer)
          expect(decoded.data.byteOffset % data.BYTES_PER_ELEMENT).toBe(0)
        }
      })
    )
  })

  it("JSON bodies carry data as a flat number array", () => {
    const body = encodeRequest({ dtype: "int32", shape: [2, 2], data: new Int32Array([1, -2, 3, 4]) }, ["out"], "json")
    expect(JSON.parse(new TextDecoder().decode(body))).toEqual({
      inputs: { dtype: "int32", shape: [2, 2], data: [1, -2, 3, 4] },
      outputs: ["out"]
    })
  })

  it("plain msgpack maps, no msgpackr records, so other libraries can read requests", () => {
    const packr = new Packr({ useRecords: false })
    const body = encodeRequest(
      { a: { dtype: "int32", shape: [1], data: [7] }, b: { dtype: "int32", shape: [1], data: [8] } },
      undefined,
      "msgpack"
    )
    expect(packr.unpack(body)).toEqual({
      inputs: { a: { dtype: "int32", shape: [1], data: [7] }, b: { dtype: "int32", shape: [1], data: [8] } }
    })
    // a fixmap (0x8X) or map16 (0xde) at the top, never an extension (0xd4-0xd8, 0xc7-0xc9)
    expect([0x81, 0xde]).toContain(body[0])
  })
})
