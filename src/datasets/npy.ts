// numpy's .npy format, read and written without Python: the magic string, version 1/2/3 header lengths,
// the header dict (descr, fortran_order, shape), and little-endian float32, int32 and int64 data.
import { bytesPerElement, type DType, type HostTensor, viewBytes } from "../protocol/tensor.js"
import { type BadDataset, badFile } from "./errors.js"

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59] // \x93NUMPY

/** The numpy `descr` of each dtype a .npy file may hold here (little-endian; numpy's `<` or `|` byte order). */
export const NPY_DESCR: Readonly<Record<Exclude<DType, "bool">, string>> = {
  float32: "<f4",
  int32: "<i4",
  int64: "<i8"
}

const dtypeOfDescr = (descr: string): DType | undefined => {
  switch (descr) {
    case "<f4":
    case "f4":
      return "float32"
    case "<i4":
    case "i4":
      return "int32"
    case "<i8":
    case "i8":
      return "int64"
    case "|b1":
    case "b1":
      return "bool"
    default:
      return undefined
  }
}

const headerField = (header: string, key: string): string | undefined =>
  new RegExp(`['"]${key}['"]\\s*:\\s*(\\([^)]*\\)|'[^']*'|"[^"]*"|True|False)`).exec(header)?.[1]

const parseShape = (text: string): Array<number> | undefined => {
  const inner = text.slice(1, -1).trim()
  if (inner === "") return []
  const parts = inner
    .split(",")
    .map((p) => p.trim())
    .filter((p) => p !== "")
  const dims = parts.map((p) => (/^\d+L?$/.test(p) ? Number.parseInt(p, 10) : Number.NaN))
  return dims.every((d) => Number.isSafeInteger(d)) ? dims : undefined
}

/** Bytes a .npy file's preamble takes at most (magic, version, header length): enough for `npyDataStart`. */
export const NPY_PREAMBLE_BYTES = 12

/**
 * Where a .npy file's data starts (past its header), from its first bytes (`NPY_PREAMBLE_BYTES`, or the
 * whole file when shorter), or why it cannot be read.
 */
export const npyDataStart = (file: string, bytes: Uint8Array): number | BadDataset => {
  if (bytes.byteLength < 10 || MAGIC.some((b, i) => bytes[i] !== b))
    return badFile(file, "not a .npy file: expected the magic string \\x93NUMPY at its start")
  const major = bytes[6]!
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  if (major === 1) return 10 + view.getUint16(8, true)
  if (major === 2 || major === 3) {
    if (bytes.byteLength < 12) return badFile(file, "the .npy header is cut short")
    return 12 + view.getUint32(8, true)
  }
  return badFile(file, `.npy format version ${major} is not supported (expected 1, 2 or 3)`)
}

/** What a .npy header says: the array's dtype and shape, and the byte where its data starts. */
export interface NpyLayout {
  readonly dtype: DType
  readonly shape: ReadonlyArray<number>
  readonly dataStart: number
}

/**
 * A .npy file's layout from its first bytes (`head`: at least up to the end of its header) and its size in
 * bytes, or why it cannot be read: the header's dict, a supported dtype, C order, and as many data bytes as
 * the shape needs.
 */
export const npyLayout = (file: string, head: Uint8Array, fileBytes: number): NpyLayout | BadDataset => {
  const dataStart = npyDataStart(file, head)
  if (typeof dataStart !== "number") return dataStart
  if (dataStart > head.byteLength || dataStart > fileBytes) return badFile(file, "the .npy header is cut short")
  const major = head[6]!
  const headerStart = major === 1 ? 10 : 12
  const header = new TextDecoder(major === 3 ? "utf-8" : "latin1").decode(head.subarray(headerStart, dataStart))
  const descr = headerField(header, "descr")?.slice(1, -1)
  const fortran = headerField(header, "fortran_order")
  const shapeText = headerField(header, "shape")
  if (descr === undefined || fortran === undefined || shapeText === undefined)
    return badFile(file, `the .npy header is not numpy's dict of descr, fortran_order and shape: ${header.trim()}`)
  const dtype = dtypeOfDescr(descr)
  if (dtype === undefined)
    return badFile(
      file,
      `unsupported .npy dtype ${descr}: expected little-endian float32 (<f4), int32 (<i4), int64 (<i8) or bool (|b1)`
    )
  if (fortran === "True") return badFile(file, "a Fortran-order .npy array is not supported (save it C-ordered)")
  const shape = parseShape(shapeText)
  if (shape === undefined) return badFile(file, `the .npy shape ${shapeText} is not a tuple of integers`)
  if (shape.length === 0) return badFile(file, "the .npy array is a scalar: expected at least one axis (rows)")
  const count = shape.reduce((n, d) => n * d, 1)
  const available = fileBytes - dataStart
  const needed = count * bytesPerElement[dtype]
  if (available !== needed)
    return badFile(
      file,
      `the .npy data holds ${available} bytes; shape (${shape.join(", ")}) of ${descr} needs ${needed}`
    )
  return { dtype, shape, dataStart }
}

/** A .npy file's array (first axis = rows), or why it cannot be read; `file` names it in the message. */
export const parseNpy = (file: string, bytes: Uint8Array): HostTensor | BadDataset => {
  const layout = npyLayout(file, bytes, bytes.byteLength)
  if ("_tag" in layout) return layout
  return {
    dtype: layout.dtype,
    shape: [...layout.shape],
    data: viewBytes(layout.dtype, bytes.slice(layout.dataStart))!
  }
}

/** A .npy file (format 1.0, or 2.0 when the header needs it) holding `tensor`, C-ordered and little-endian. */
export const encodeNpy = (tensor: HostTensor): Uint8Array => {
  const descr = tensor.dtype === "bool" ? "|b1" : NPY_DESCR[tensor.dtype]
  const shape = tensor.shape.length === 1 ? `(${tensor.shape[0]},)` : `(${tensor.shape.join(", ")})`
  const dict = `{'descr': '${descr}', 'fortran_order': False, 'shape': ${shape}, }`
  const v1 = dict.length + 1 + 10 <= 0xffff
  const prefix = v1 ? 10 : 12
  const padded = Math.ceil((prefix + dict.length + 1) / 64) * 64
  const header = `${dict}${" ".repeat(padded - prefix - dict.length - 1)}\n`
  const data = new Uint8Array(tensor.data.buffer, tensor.data.byteOffset, tensor.data.byteLength)
  const out = new Uint8Array(padded + data.byteLength)
  out.set(MAGIC, 0)
  out[6] = v1 ? 1 : 2
  out[7] = 0
  const view = new DataView(out.buffer)
  if (v1) view.setUint16(8, header.length, true)
  else view.setUint32(8, header.length, true)
  out.set(new TextEncoder().encode(header), prefix)
  out.set(data, padded)
  return out
}
