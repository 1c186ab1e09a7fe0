// fast-check arbitraries and helpers shared by the protocol tests: random tensors of every
// dtype, the little-endian bytes numpy's tobytes() would give, and decoded-request accessors.
import fc from "fast-check"
import { expect } from "vitest"
import { BadInput } from "../../../src/protocol/errors.js"
import type { InferRequest } from "../../../src/protocol/messages.js"
import type { DType, HostTensor } from "../../../src/protocol/tensor.js"

export const DTYPES: ReadonlyArray<DType> = ["float32", "int32", "bool"]

export const shapeArb = fc.array(fc.integer({ min: 0, max: 4 }), { minLength: 0, maxLength: 4 })

const product = (shape: ReadonlyArray<number>) => shape.reduce((a, b) => a * b, 1)

/** Values of the dtype, exactly representable in it (JSON-safe when `finite`). */
export const valueArb = (dtype: DType, finite = false): fc.Arbitrary<number> =>
  dtype === "float32"
    ? fc.float(finite ? { noNaN: true, noDefaultInfinity: true } : {}).map((v) => (finite && Object.is(v, -0) ? 0 : v))
    : dtype === "int32"
      ? fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 })
      : fc.integer({ min: 0, max: 1 })

export interface PlainTensor {
  readonly dtype: DType
  readonly shape: Array<number>
  readonly values: Array<number>
}

export const plainTensorArb = (dtype: DType, finite = false): fc.Arbitrary<PlainTensor> =>
  shapeArb.chain((shape) =>
    fc
      .array(valueArb(dtype, finite), { minLength: product(shape), maxLength: product(shape) })
      .map((values) => ({ dtype, shape, values }))
  )

export const anyPlainTensorArb = (finite = false): fc.Arbitrary<PlainTensor> =>
  fc.constantFrom(...DTYPES).chain((dtype) => plainTensorArb(dtype, finite))

/** The typed array a tensor of this dtype travels as. */
export const typed = (dtype: DType, values: ReadonlyArray<number>): Float32Array | Int32Array | Uint8Array =>
  dtype === "float32"
    ? Float32Array.from(values)
    : dtype === "int32"
      ? Int32Array.from(values)
      : Uint8Array.from(values)

export const hostTensor = (t: PlainTensor): HostTensor => ({
  dtype: t.dtype,
  shape: t.shape,
  data: typed(t.dtype, t.values)
})

/** numpy's `a.astype('<f4' | '<i4' | '?').tobytes()`, written with a DataView. */
export const littleEndianBytes = (dtype: DType, values: ReadonlyArray<number>): Uint8Array => {
  const size = dtype === "bool" ? 1 : 4
  const view = new DataView(new ArrayBuffer(values.length * size))
  values.forEach((v, i) => {
    if (dtype === "float32") view.setFloat32(i * size, v, true)
    else if (dtype === "int32") view.setInt32(i * size, v, true)
    else view.setUint8(i, v)
  })
  return new Uint8Array(view.buffer)
}

/** The single tensor of a decoded request (fails the test otherwise). */
export const singleTensor = (decoded: InferRequest | BadInput): HostTensor => {
  if (decoded instanceof BadInput) throw new Error(`unexpected BadInput: ${decoded.message}`)
  expect(decoded.inputs.kind).toBe("single")
  if (decoded.inputs.kind !== "single") throw new Error("not single")
  const value = decoded.inputs.value
  if (value.kind !== "tensor") throw new Error("not a tensor")
  return value.tensor
}

/** Asserts a decoded tensor holds exactly the dtype, shape and values (bitwise for float32). */
export const expectTensor = (actual: HostTensor, expected: PlainTensor): void => {
  expect(actual.dtype).toBe(expected.dtype)
  expect([...actual.shape]).toEqual(expected.shape)
  expect(actual.data).toBeInstanceOf(
    expected.dtype === "float32" ? Float32Array : expected.dtype === "int32" ? Int32Array : Uint8Array
  )
  expect(actual.data.length).toBe(expected.values.length)
  expect(new Uint8Array(actual.data.buffer, actual.data.byteOffset, actual.data.byteLength)).toEqual(
    littleEndianBytes(expected.dtype, expected.values)
  )
}
