// A minimal reader of the protobuf wire format: the fields of one message, as numbers or byte views,
// bounds-checked so that any bytes give fields or a reason (never a throw). Enough to read ONNX files.

/** The wire types a field can have (3 and 4, groups, are obsolete and refused). */
export const WireType = { varint: 0, fixed64: 1, bytes: 2, fixed32: 5 } as const
export type WireType = (typeof WireType)[keyof typeof WireType]

/** One field of a message: varints as numbers (exact up to 2^53), the rest as views of the input. */
export type Field =
  | { readonly number: number; readonly wire: typeof WireType.varint; readonly value: number }
  | {
      readonly number: number
      readonly wire: typeof WireType.bytes | typeof WireType.fixed32 | typeof WireType.fixed64
      readonly bytes: Uint8Array
    }

export type Fields =
  | { readonly ok: true; readonly fields: ReadonlyArray<Field> }
  | { readonly ok: false; readonly reason: string }

/** A varint at `at`: its value (inexact past 2^53, as a negative int64's ten bytes are) and where the next byte is; undefined when cut off. */
export const readVarint = (bytes: Uint8Array, at: number): { value: number; next: number } | undefined => {
  let value = 0
  let scale = 1
  for (let i = 0; i < 10; i++) {
    if (at + i >= bytes.length) return undefined
    const b = bytes[at + i]!
    value += (b & 0x7f) * scale
    if ((b & 0x80) === 0) return { value, next: at + i + 1 }
    scale *= 128
  }
  return undefined
}

/** The fields of the message in `bytes`, in order; or why the bytes are not one. */
export const readFields = (bytes: Uint8Array): Fields => {
  const fields: Array<Field> = []
  let at = 0
  while (at < bytes.length) {
    const key = readVarint(bytes, at)
    if (key === undefined) return { ok: false, reason: `a field key is cut off at byte ${at}` }
    const number = Math.floor(key.value / 8)
    const wire = key.value % 8
    if (number < 1) return { ok: false, reason: `field number ${number} at byte ${at}` }
    at = key.next
    if (wire === WireType.varint) {
      const varint = readVarint(bytes, at)
      if (varint === undefined) return { ok: false, reason: `field ${number}: a varint is cut off at byte ${at}` }
      fields.push({ number, wire, value: varint.value })
      at = varint.next
      continue
    }
    let size: number
    if (wire === WireType.fixed32) size = 4
    else if (wire === WireType.fixed64) size = 8
    else if (wire === WireType.bytes) {
      const length = readVarint(bytes, at)
      if (length === undefined) return { ok: false, reason: `field ${number}: a length is cut off at byte ${at}` }
      size = length.value
      at = length.next
    } else return { ok: false, reason: `field ${number}: wire type ${wire} at byte ${at} is not one protobuf 3 writes` }
    if (size > bytes.length - at) {
      return { ok: false, reason: `field ${number}: ${size} bytes declared at byte ${at}, ${bytes.length - at} left` }
    }
    fields.push({ number, wire, bytes: bytes.subarray(at, at + size) })
    at += size
  }
  return { ok: true, fields }
}

const utf8 = new TextDecoder()

/** A length-delimited field as text (names, op types). */
export const textOf = (field: Field): string | undefined =>
  field.wire === WireType.bytes ? utf8.decode(field.bytes) : undefined

/** A repeated varint field's values: packed (one bytes field) or one field each; undefined when malformed. */
export const varintsOf = (fields: ReadonlyArray<Field>): Array<number> | undefined => {
  const out: Array<number> = []
  for (const field of fields) {
    if (field.wire === WireType.varint) out.push(field.value)
    else if (field.wire === WireType.bytes) {
      for (let at = 0; at < field.bytes.length; ) {
        const v = readVarint(field.bytes, at)
        if (v === undefined) return undefined
        out.push(v.value)
        at = v.next
      }
    } else return undefined
  }
  return out
}

/** How many values a repeated float field holds (packed, or one fixed32 each); undefined when malformed. */
export const floatCount = (fields: ReadonlyArray<Field>): number | undefined => {
  let count = 0
  for (const field of fields) {
    if (field.wire === WireType.fixed32) count++
    else if (field.wire === WireType.bytes && field.bytes.length % 4 === 0) count += field.bytes.length / 4
    else return undefined
  }
  return count
}

/** A repeated float field's values: packed (a bytes field of little-endian float32s) or one fixed32 each. */
export const floatsOf = (fields: ReadonlyArray<Field>): Float32Array | undefined => {
  const count = floatCount(fields)
  if (count === undefined) return undefined
  const out = new Float32Array(count)
  const bytes = new Uint8Array(out.buffer)
  let offset = 0
  for (const field of fields) {
    if (field.wire !== WireType.varint) {
      bytes.set(field.bytes, offset)
      offset += field.bytes.length
    }
  }
  return out
}
