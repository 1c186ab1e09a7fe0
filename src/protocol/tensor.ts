// Tensors as they cross the wire: the dtype table, typed-array views over raw little-endian
// bytes (no per-element copy when aligned), and the value rules of each dtype (int64 included).
export const DType = {
  float32: "float32",
  int32: "int32",
  int64: "int64",
  bool: "bool"
} as const
export type DType = (typeof DType)[keyof typeof DType]

export type TensorData = Float32Array | Int32Array | BigInt64Array | Uint8Array

/** A tensor held in host memory: what requests carry in and replies carry out. */
export interface HostTensor {
  readonly dtype: DType
  readonly shape: ReadonlyArray<number>
  readonly data: TensorData
}

/** Bytes of one element of each dtype. */
export const bytesPerElement: Record<DType, number> = { float32: 4, int32: 4, int64: 8, bool: 1 }

/** The typed array that holds each dtype (bool as one byte per element, int64 as BigInt64Array). */
export const typedArrayOf: Readonly<Record<DType, new (length: number) => TensorData>> = {
  float32: Float32Array,
  int32: Int32Array,
  int64: BigInt64Array,
  bool: Uint8Array
}

/** A zero-filled typed array of the dtype with `length` elements. */
export const allocate = (dtype: DType, length: number): TensorData => new typedArrayOf[dtype](length)

export const isDType = (value: unknown): value is DType =>
  typeof value === "string" && Object.hasOwn(bytesPerElement, value)

export const elementCount = (shape: ReadonlyArray<number>): number => {
  let n = 1
  for (const d of shape) n *= d
  return n
}

/** A view of `bytes` as the dtype's typed array; copies once only when `bytes` is misaligned. */
export const viewBytes = (dtype: DType, bytes: Uint8Array): TensorData | undefined => {
  const size = bytesPerElement[dtype]
  if (bytes.byteLength % size !== 0) return undefined
  if (dtype === "bool") return bytes
  const aligned = bytes.byteOffset % size === 0 ? bytes : new Uint8Array(bytes) // a copy (Buffer#slice would not copy)
  const length = aligned.byteLength / size
  return dtype === "float32"
    ? new Float32Array(aligned.buffer, aligned.byteOffset, length)
    : dtype === "int32"
      ? new Int32Array(aligned.buffer, aligned.byteOffset, length)
      : new BigInt64Array(aligned.buffer, aligned.byteOffset, length)
}

/** A value as a plain number or bool (JSON bodies, nested arrays) or a bigint (msgpack's 64-bit integers). */
export type PlainValue = number | boolean | bigint

const INT64_MIN = -(2n ** 63n)
const INT64_MAX = 2n ** 63n - 1n

/**
 * A typed array of the dtype filled from plain values (JSON bodies, nested arrays), each already
 * accepted by `holdsValue`.
 */
export const fromNumbers = (dtype: DType, values: ArrayLike<PlainValue>): TensorData => {
  if (dtype === "int64") {
    const out = new BigInt64Array(values.length)
    for (let i = 0; i < values.length; i++) {
      const v = values[i]!
      out[i] = typeof v === "bigint" ? v : BigInt(Number(v))
    }
    return out
  }
  const out = allocate(dtype, values.length) as Float32Array | Int32Array | Uint8Array
  for (let i = 0; i < values.length; i++) out[i] = Number(values[i])
  return out
}

/**
 * True when `value` is stored by the dtype unchanged: int32 a 32-bit integer; bool 0 or 1; int64 a
 * bigint in range, or a number that is a safe integer (past 2^53 a number no longer names one
 * integer: such values travel as msgpack bins or 64-bit integers).
 */
export const holdsValue = (dtype: DType, value: number | bigint): boolean => {
  if (typeof value === "bigint") {
    return dtype === "int64" ? value >= INT64_MIN && value <= INT64_MAX : holdsValue(dtype, Number(value))
  }
  switch (dtype) {
    case "float32":
      return true
    case "int32":
      return value === (value | 0)
    case "int64":
      return Number.isSafeInteger(value)
    case "bool":
      return value === 0 || value === 1
  }
}

/** Where int64 values given as numbers must lie, and how larger ones travel: for error messages. */
export const INT64_NUMBER_RULE =
  "within ±(2^53 − 1) when given as numbers; send larger ones as msgpack bins or 64-bit integers"

/** What `holdsValue` wants of one value of a dtype, for error messages. */
export const valueRule = (dtype: DType): string =>
  dtype === "int64" ? `an int64 value ${INT64_NUMBER_RULE}` : `a ${dtype} value`

/** What `holdsValue` wants of a dtype's values, for error messages. */
export const valuesRule = (dtype: DType): string =>
  dtype === "int64" ? `int64 values ${INT64_NUMBER_RULE}` : `${dtype} values`

/** JSON has no NaN or ±Infinity: float32 data carries them as the strings "NaN", "Infinity", "-Infinity". */
export const NON_FINITE: ReadonlySet<string> = new Set(["NaN", "Infinity", "-Infinity"])

// JSON.rawJSON (Node 21+) writes an integer's exact digits; lib.es2023 does not declare it yet.
const rawJson = (JSON as unknown as { readonly rawJSON?: (text: string) => unknown }).rawJSON

const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER)

/** An int64 value as JSON: a number, with its exact digits past 2^53 (readers that parse doubles round those). */
const jsonInt64 = (v: bigint): unknown =>
  v <= MAX_SAFE && v >= -MAX_SAFE ? Number(v) : rawJson === undefined ? Number(v) : rawJson(v.toString())

/** A tensor's values as JSON numbers (non-finite ones as their strings, int64 ones exact). */
export const jsonValues = (data: TensorData | ArrayLike<number> | ArrayLike<bigint>): Array<unknown> => {
  if (data instanceof BigInt64Array) return Array.from(data, jsonInt64)
  return Array.from(data as ArrayLike<number | bigint>, (v) =>
    typeof v === "bigint" ? jsonInt64(v) : Number.isFinite(v) ? v : String(v)
  )
}

/** The raw little-endian bytes of a typed array, sharing its memory. */
export const bytesOf = (data: TensorData): Uint8Array =>
  data instanceof Uint8Array ? data : new Uint8Array(data.buffer, data.byteOffset, data.byteLength)
