// int64 tensors on the wire: 8-byte little-endian bins in msgpack (the full range, exact), numbers in
// JSON (refused past 2^53 with a BadInput), msgpack's 64-bit integers, and exact digits in JSON replies.
import fc from "fast-check"
import { Packr } from "msgpackr"
import { describe, expect, it } from "vitest"
import { checkInput } from "../../../src/model/signature.js"
import { decodeReply, decodeRequest, encodeReply, encodeRequest } from "../../../src/protocol/codec.js"
import { BadInput } from "../../../src/protocol/errors.js"
import type { HostTensor } from "../../../src/protocol/tensor.js"
import { singleTensor } from "./tensorArbitraries.js"

const packr = new Packr({ useRecords: false, mapsAsObjects: true, moreTypes: false })
const utf8 = new TextEncoder()
const int64Arb = fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n })

/** numpy's `a.astype('<i8').tobytes()`, written with a DataView. */
const littleEndian = (values: ReadonlyArray<bigint>): Uint8Array => {
  const view = new DataView(new ArrayBuffer(values.length * 8))
  values.forEach((v, i) => {
    view.setBigInt64(i * 8, v, true)
  })
  return new Uint8Array(view.buffer)
}

const badInput = (decoded: unknown): BadInput => {
  expect(decoded).toBeInstanceOf(BadInput)
  return decoded as BadInput
}

describe("int64 requests", () => {
  it("msgpack: a bin of 8-byte little-endian values decodes exactly, over the whole range", () => {
    fc.assert(
      fc.property(fc.array(int64Arb, { minLength: 1, maxLength: 16 }), (values) => {
        const body = packr.pack({ inputs: { dtype: "int64", shape: [values.length], data: littleEndian(values) } })
        const tensor = singleTensor(decodeRequest(body, "msgpack"))
        expect(tensor.dtype).toBe("int64")
        expect(tensor.data).toBeInstanceOf(BigInt64Array)
        expect(Array.from(tensor.data as BigInt64Array)).toEqual(values)
      })
    )
  })

  it("msgpack: a BigInt64Array from the client round-trips exactly, a misaligned bin included", () => {
    const values = [2n ** 62n + 1n, -(2n ** 63n), 2n ** 63n - 1n, 0n, -1n]
    const body = encodeRequest({ dtype: "int64", shape: [5], data: BigInt64Array.from(values) }, undefined, "msgpack")
    const shifted = new Uint8Array(body.byteLength + 3)
    shifted.set(body, 3)
    for (const bytes of [body, shifted.subarray(3)]) {
      expect(Array.from(singleTensor(decodeRequest(bytes, "msgpack")).data as BigInt64Array)).toEqual(values)
    }
  })

  it("msgpack: a bin whose length is not a multiple of 8 is a BadInput naming the shape", () => {
    const body = packr.pack({ inputs: { dtype: "int64", shape: [2], data: new Uint8Array(12) } })
    expect(badInput(decodeRequest(body, "msgpack")).message).toBe(
      "inputs: data: shape [2] of int64 needs 2 elements, received 12 bytes"
    )
  })

  it("msgpack: 64-bit integers in a flat array are read exactly (msgpackr decodes them as bigint)", () => {
    const body = packr.pack({ inputs: { dtype: "int64", shape: [3], data: [2n ** 62n + 1n, -5, 7] } })
    expect(Array.from(singleTensor(decodeRequest(body, "msgpack")).data as BigInt64Array)).toEqual([
      2n ** 62n + 1n,
      -5n,
      7n
    ])
  })

  it("JSON: numbers within ±(2^53 − 1) are read exactly", () => {
    fc.assert(
      fc.property(fc.array(fc.maxSafeInteger(), { minLength: 1, maxLength: 8 }), (values) => {
        const body = utf8.encode(JSON.stringify({ inputs: { dtype: "int64", shape: [values.length], data: values } }))
        expect(Array.from(singleTensor(decodeRequest(body, "json")).data as BigInt64Array)).toEqual(values.map(BigInt))
      })
    )
  })

  it("JSON: a number past 2^53 is a BadInput saying what is expected and how to send it", () => {
    for (const text of ["9007199254740993", "9007199254740992", "-9007199254740992", "1e300", "2.5"]) {
      const body = utf8.encode(`{"inputs": {"dtype": "int64", "shape": [2], "data": [1, ${text}]}}`)
      const error = badInput(decodeRequest(body, "json"))
      expect(error.message).toContain(
        "inputs: data[1]: expected an int64 value within ±(2^53 − 1) when given as numbers"
      )
      expect(error.message).toContain("msgpack bins or 64-bit integers")
    }
  })

  it("nested arrays for an int64 input: safe numbers and bigints pass, a number past 2^53 or a fraction does not", () => {
    const spec = { name: "ids", dtype: "int64", shape: [null, 2] } as const
    const ok = checkInput(spec, { kind: "nested", shape: [1, 2], values: [2n ** 62n, 5] }) as HostTensor
    expect(Array.from(ok.data as BigInt64Array)).toEqual([2n ** 62n, 5n])
    for (const bad of [2 ** 53, 0.5]) {
      const refused = checkInput(spec, { kind: "nested", shape: [1, 2], values: [1, bad] })
      expect(refused).toBeInstanceOf(BadInput)
      expect((refused as BadInput).message).toContain('input "ids": expected int64 values within ±(2^53 − 1)')
    }
    const outOfRange = checkInput(spec, { kind: "nested", shape: [1, 2], values: [1, 2n ** 63n] })
    expect(outOfRange).toBeInstanceOf(BadInput)
  })
})

describe("int64 replies", () => {
  const reply = (data: BigInt64Array) => ({
    outputs: { dtype: "int64", shape: [data.length], data } as HostTensor,
    model: "m",
    version: 1,
    actor: "a"
  })

  it("msgpack: the client decodes the bin back to the same BigInt64Array", () => {
    fc.assert(
      fc.property(fc.array(int64Arb, { maxLength: 16 }), (values) => {
        const decoded = decodeReply(encodeReply(reply(BigInt64Array.from(values)), "msgpack"), "msgpack")
        if (decoded.kind !== "reply") throw new Error(decoded.kind)
        expect(Array.from((decoded.reply.outputs as HostTensor).data as BigInt64Array)).toEqual(values)
      })
    )
  })

  it("JSON: values are numbers with their exact digits, past 2^53 too", () => {
    const text = new TextDecoder().decode(encodeReply(reply(BigInt64Array.from([2n ** 62n + 1n, -3n, 0n])), "json"))
    expect(text).toContain('"data":[4611686018427387905,-3,0]')
    expect(text).toContain('"dtype":"int64"')
  })
})
