// Tensors as they cross the wire: the dtype table, typed-array views over raw little-endian
// bytes (no per-element copy when aligned), and nested-array shorthand flattening.
export const DType = {
  float32: "float32",
  int32: "int32",
  bool: "bool"
} as const
export type DType = (typeof DType)[keyof typeof DType]

export type TensorData = Float32Array | Int32Array | Uint8Array

/** A tensor held in host memory: what requests carry in and replies carry out. */
export interface HostTensor {
  readonly dtype: DType
  readonly shape: ReadonlyArray<number>
  readonly data: TensorData
}

const bytesPerElement: Record<DType, number> = { float32: 4, int32: 4, bool: 1 }

/** The typed array that holds each dtype (bool as one byte per element). */
export const typedArrayOf: Readonly<Record<DType, new (length: number) => TensorData>> = {
  float32: Float32Array,
  int32: Int32Array,
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
    : new Int32Array(aligned.buffer, aligned.byteOffset, length)
}

/** A typed array of the dtype filled from plain numbers (JSON bodies, nested arrays). */
export const fromNumbers = (dtype: DType, values: ArrayLike<number | boolean>): TensorData => {
  const out = allocate(dtype, values.length)
  for (let i = 0; i < values.length; i++) out[i] = Number(values[i])
  return out
}

/** True when `value` is stored by the dtype unchanged (int32: a 32-bit integer; bool: 0 or 1). */
export const holdsValue = (dtype: DType, value: number): boolean =>
  dtype === "float32" || (dtype === "int32" ? value === (value | 0) : value === 0 || value === 1)

/** JSON has no NaN or ±Infinity: float32 data carries them as the strings "NaN", "Infinity", "-Infinity". */
export const NON_FINITE: ReadonlySet<string> = new Set(["NaN", "Infinity", "-Infinity"])

/** A tensor's values as JSON numbers (non-finite ones as their strings). */
export const jsonValues = (data: TensorData | ArrayLike<number>): Array<number | string> =>
  Array.from(data as ArrayLike<number>, (v) => (Number.isFinite(v) ? v : String(v)))

/** The raw little-endian bytes of a typed array, sharing its memory. */
export const bytesOf = (data: TensorData): Uint8Array =>
  data instanceof Uint8Array ? data : new Uint8Array(data.buffer, data.byteOffset, data.byteLength)
