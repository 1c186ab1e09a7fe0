// .npy reading and writing: round trips of each dtype and of 1-D to 3-D shapes, byte-exact headers numpy
// writes, and one-line typed errors for what cannot be read.
import { describe, expect, it } from "vitest"
import { BadDataset } from "../../../src/datasets/errors.js"
import { encodeNpy, parseNpy } from "../../../src/datasets/npy.js"
import type { HostTensor } from "../../../src/protocol/tensor.js"

// what `np.save(f, np.arange(6, dtype=np.float32).reshape(2, 3))` writes (numpy 1.26), byte for byte
const numpyHeader = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }"
const numpyFile = (() => {
  const header = `${numpyHeader}${" ".repeat(128 - 10 - numpyHeader.length - 1)}\n`
  const bytes = new Uint8Array(128 + 24)
  bytes.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0], 0)
  new DataView(bytes.buffer).setUint16(8, header.length, true)
  bytes.set(new TextEncoder().encode(header), 10)
  bytes.set(new Uint8Array(Float32Array.from([0, 1, 2, 3, 4, 5]).buffer), 128)
  return bytes
})()

const messageOf = (value: unknown) => (value instanceof BadDataset ? value.message : "read")

describe("parseNpy", () => {
  it("reads the file numpy writes", () => {
    const t = parseNpy("a.npy", numpyFile) as HostTensor
    expect(t.dtype).toBe("float32")
    expect(t.shape).toEqual([2, 3])
    expect(Array.from(t.data as Float32Array)).toEqual([0, 1, 2, 3, 4, 5])
  })

  it("writes what numpy writes, byte for byte", () => {
    expect(encodeNpy({ dtype: "float32", shape: [2, 3], data: Float32Array.from([0, 1, 2, 3, 4, 5]) })).toEqual(
      numpyFile
    )
  })

  const cases: Array<HostTensor> = [
    { dtype: "float32", shape: [4], data: Float32Array.from([1.5, Number.NaN, -2, 3]) },
    { dtype: "int32", shape: [2, 2], data: Int32Array.from([1, -2, 2147483647, -2147483648]) },
    { dtype: "int64", shape: [1, 2, 2], data: BigInt64Array.from([1n, -(2n ** 63n), 2n ** 62n, 0n]) },
    { dtype: "float32", shape: [0, 3], data: new Float32Array(0) }
  ]
  it.each(cases)("round-trips $dtype $shape", (t) => {
    const back = parseNpy("x.npy", encodeNpy(t)) as HostTensor
    expect(back.dtype).toBe(t.dtype)
    expect(back.shape).toEqual(t.shape)
    expect(Array.from(back.data as ArrayLike<unknown>)).toEqual(Array.from(t.data as ArrayLike<unknown>))
  })

  it("pads the header so the data starts on a 64-byte boundary", () => {
    const bytes = encodeNpy({ dtype: "int32", shape: [3, 7], data: new Int32Array(21) })
    const headerLength = new DataView(bytes.buffer).getUint16(8, true)
    expect((10 + headerLength) % 64).toBe(0)
    expect(bytes[10 + headerLength - 1]).toBe(0x0a)
  })

  const bad = (edit: (b: Uint8Array) => Uint8Array) => edit(numpyFile.slice())
  const withHeader = (dict: string, dataBytes = 24) => {
    const header = `${dict}${" ".repeat(Math.max(0, 118 - dict.length - 1))}\n`
    const bytes = new Uint8Array(10 + header.length + dataBytes)
    bytes.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0], 0)
    new DataView(bytes.buffer).setUint16(8, header.length, true)
    bytes.set(new TextEncoder().encode(header), 10)
    return bytes
  }
  it.each([
    ["not npy", new TextEncoder().encode("hello, world"), "d.npy: not a .npy file"],
    ["float64", withHeader("{'descr': '<f8', 'fortran_order': False, 'shape': (3,), }"), "unsupported .npy dtype <f8"],
    [
      "big-endian",
      withHeader("{'descr': '>f4', 'fortran_order': False, 'shape': (6,), }"),
      "unsupported .npy dtype >f4"
    ],
    ["Fortran order", withHeader("{'descr': '<f4', 'fortran_order': True, 'shape': (2, 3), }"), "Fortran-order"],
    ["a scalar", withHeader("{'descr': '<f4', 'fortran_order': False, 'shape': (), }", 4), "scalar"],
    ["short data", bad((b) => b.slice(0, b.length - 4)), "holds 20 bytes; shape (2, 3) of <f4 needs 24"],
    [
      "version 9",
      bad((b) => {
        b[6] = 9
        return b
      }),
      "format version 9"
    ]
  ])("refuses %s with one line naming the file", (_, bytes, text) => {
    const out = parseNpy("d.npy", bytes)
    expect(out).toBeInstanceOf(BadDataset)
    expect(messageOf(out)).toContain(text)
    expect(messageOf(out)).toMatch(/^d\.npy: /)
    expect(messageOf(out)).not.toContain("\n")
  })
})
