// numpy's .npy format, read and written without Python: the magic string, version 1/2/3 header lengths,
// the header dict (descr, fortran_order, shape), and little-endian float32, int32 and int64 data.
import { type DType, type HostTensor, viewBytes } from "../protocol/tensor.js"
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

/** A .npy file's array (first axis = rows), or why it cannot be read; `file` names it in the message. */
export const parseNpy = (file: string, bytes: Uint8Array): HostTensor | BadDataset => {
  if (bytes.byteLength < 10 || MAGIC.some((b, i) => bytes[i] !== b))
    return badFile(file, "not a .npy file: expected the magic string \\x93NUMPY at its start")
  const major = bytes[6]!
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  let headerLength: number
  let headerStart: number
  if (major === 1) {
    headerLength = view.getUint16(8, true)
    headerStart = 10
  } else if (major === 2 || major === 3) {
    if (bytes.byteLength < 12) return badFile(file, "the .npy header is cut short")
    headerLength = view.getUint32(8, true)
    headerStart = 12
  } else return badFile(file, `.npy format version ${major} is not supported (expected 1, 2 or 3)`)
  const dataStart = headerStart + headerLength
  if (dataStart > bytes.byteLength) return badFile(file, "the .npy header is cut short")
  const header = new TextDecoder(major === 3 ? "utf-8" : "latin1").decode(bytes.subarray(headerStart, dataStart))
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
  const size = dtype === "int64" ? 8 : dtype === "bool" ? 1 : 4
  const available = bytes.byteLength - dataStart
  if (available !== count * size)
    return badFile(
      file,
      `the .npy data holds ${available} bytes; shape (${shape.join(", ")}) of ${descr} needs ${count * size}`
    )
  const data = viewBytes(dtype, bytes.slice(dataStart))!
  return { dtype, shape, data }
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
