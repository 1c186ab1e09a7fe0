// Encoding of infer requests and replies: msgpack by default, JSON when the Content-Type
// header says so; tensor bytes become typed-array views without a per-element copy.
import { Packr } from "msgpackr"
import { BadInput, errorBody, type ServiceError, serviceErrorFromBody } from "./errors.js"
import type { InferReply, InferRequest, InputValue, ReplyOutputs, RequestInputs } from "./messages.js"
import { flattenNested, MAX_RANK } from "./nested.js"
import {
  bytesOf,
  DType,
  elementCount,
  fromNumbers,
  type HostTensor,
  holdsValue,
  isDType,
  jsonValues,
  NON_FINITE,
  type PlainValue,
  type TensorData,
  typedArrayOf,
  valueRule,
  viewBytes
} from "./tensor.js"
import { describe, isRecord, messageOf } from "./values.js"

export const Encoding = { msgpack: "msgpack", json: "json" } as const
export type Encoding = (typeof Encoding)[keyof typeof Encoding]

export const CONTENT_TYPE_HEADER = "Content-Type"
export const JSON_CONTENT_TYPE = "application/json"

/** The encoding a Content-Type header value asks for (msgpack when absent). */
export const encodingOf = (contentType: string | undefined): Encoding =>
  contentType?.toLowerCase().startsWith(JSON_CONTENT_TYPE) ? Encoding.json : Encoding.msgpack

/** The encoding a NATS message's Content-Type header asks for (msgpack when it has none). */
export const encodingOfMessage = (msg: { readonly headers?: { get(key: string): string } | undefined }): Encoding =>
  encodingOf(msg.headers?.get(CONTENT_TYPE_HEADER) || undefined)

// Plain maps and bins only (no msgpackr records), so any msgpack library can talk to modelbus. Structured-clone
// references are off: they would let a small body stand for billions of values (one array referenced everywhere).
const packr = new Packr({ useRecords: false, mapsAsObjects: true, moreTypes: false, structuredClone: false })
const textDecoder = new TextDecoder()
const textEncoder = new TextEncoder()

/** JSON nesting deeper than this is refused before parsing (a request needs about 3 + MAX_RANK levels). */
export const MAX_JSON_DEPTH = 64

/** True when the JSON text's brackets nest deeper than `limit` (inside strings skipped): found without parsing. */
const jsonTooDeep = (bytes: Uint8Array, limit: number): boolean => {
  let depth = 0
  let inString = false
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i]!
    if (inString) {
      if (b === 0x5c)
        i++ // a backslash escapes the next byte
      else if (b === 0x22) inString = false
    } else if (b === 0x22) inString = true
    else if (b === 0x5b || b === 0x7b) {
      if (++depth > limit) return true
    } else if (b === 0x5d || b === 0x7d) depth--
  }
  return false
}

/** Parses a message body into a plain value, or says why it cannot. */
export const parseBody = (
  bytes: Uint8Array,
  encoding: Encoding
): { ok: true; value: unknown } | { ok: false; reason: string } => {
  if (bytes.byteLength === 0) return { ok: false, reason: "empty body" }
  if (encoding === Encoding.json && jsonTooDeep(bytes, MAX_JSON_DEPTH)) {
    return { ok: false, reason: `body is JSON nested deeper than ${MAX_JSON_DEPTH} levels` }
  }
  try {
    return encoding === Encoding.json
      ? { ok: true, value: JSON.parse(textDecoder.decode(bytes)) }
      : { ok: true, value: packr.unpack(bytes) }
  } catch (cause) {
    const what = encoding === Encoding.json ? "JSON" : "msgpack (send Content-Type: application/json for JSON)"
    return { ok: false, reason: `body is not valid ${what}: ${messageOf(cause)}` }
  }
}

/** Serialises any value in the given encoding (tensor data already in its wire form). */
export const serialize = (value: unknown, encoding: Encoding): Uint8Array =>
  encoding === Encoding.json ? textEncoder.encode(JSON.stringify(value)) : packr.pack(value)

const where = (name: string | undefined) => (name === undefined ? "inputs" : `inputs.${name}`)

const readValues = (dtype: DType, data: ReadonlyArray<unknown>): TensorData | string => {
  const values: Array<PlainValue> = new Array(data.length)
  for (let i = 0; i < data.length; i++) {
    const raw = data[i]
    const v =
      typeof raw === "number" || typeof raw === "bigint"
        ? raw
        : typeof raw === "boolean"
          ? Number(raw)
          : dtype === "float32" && typeof raw === "string" && NON_FINITE.has(raw)
            ? Number(raw)
            : undefined
    if (v === undefined) return `data[${i}]: expected a number, received ${describe(raw)}`
    if (!holdsValue(dtype, v)) return `data[${i}]: expected ${valueRule(dtype)}, received ${v}`
    values[i] = v
  }
  return fromNumbers(dtype, values)
}

/** An array of at most MAX_RANK non-negative integers (checked in one loop: this runs for every request). */
const isShape = (shape: unknown): shape is Array<number> => {
  if (!Array.isArray(shape) || shape.length > MAX_RANK) return false
  for (let i = 0; i < shape.length; i++) {
    const d = shape[i]
    if (!Number.isSafeInteger(d) || d < 0) return false
  }
  return true
}

/** Reads a `{dtype, shape, data}` object into a host tensor, or a BadInput naming what is wrong. */
export const readTensor = (raw: Record<string, unknown>, at: string, input?: string): HostTensor | BadInput => {
  const bad = (message: string) =>
    new BadInput({ message: `${at}: ${message}`, ...(input === undefined ? {} : { input }) })
  const { dtype, shape, data } = raw
  if (!isDType(dtype))
    return bad(`dtype: expected one of ${Object.keys(DType).join(", ")}, received ${describe(dtype)}`)
  if (!isShape(shape)) {
    return bad(`shape: expected an array of at most ${MAX_RANK} non-negative integers, received ${describe(shape)}`)
  }
  const count = elementCount(shape)
  if (data instanceof Uint8Array) {
    const typed = viewBytes(dtype, data)
    if (typed === undefined || typed.length !== count) {
      return bad(
        `data: shape [${shape.join(",")}] of ${dtype} needs ${count} elements, received ${data.byteLength} bytes`
      )
    }
    return { dtype, shape, data: typed }
  }
  if (Array.isArray(data)) {
    if (data.length !== count)
      return bad(`data: shape [${shape.join(",")}] needs ${count} values, received ${data.length}`)
    const typed = readValues(dtype, data)
    return typeof typed === "string" ? bad(typed) : { dtype, shape, data: typed }
  }
  return bad(`data: expected raw bytes or a flat number array, received ${describe(data)}`)
}

const readInputValue = (raw: unknown, maxValues: number, name?: string): InputValue | BadInput => {
  if (Array.isArray(raw) || typeof raw === "number") {
    const flat = flattenNested(raw, maxValues)
    if (!flat.ok)
      return new BadInput({ message: `${where(name)}: ${flat.reason}`, ...(name === undefined ? {} : { input: name }) })
    return { kind: "nested", shape: flat.shape, values: flat.values }
  }
  if (isRecord(raw) && "dtype" in raw) {
    const tensor = readTensor(raw, where(name), name)
    return tensor instanceof BadInput ? tensor : { kind: "tensor", tensor }
  }
  return new BadInput({
    message: `${where(name)}: expected a tensor {dtype, shape, data} or nested number arrays, received ${describe(raw)}`,
    ...(name === undefined ? {} : { input: name })
  })
}

/** `maxValues`: no input holds more values than this (each takes at least a byte of the body). */
const readInputs = (raw: unknown, maxValues: number): RequestInputs | BadInput => {
  if (isRecord(raw) && !("dtype" in raw)) {
    // no prototype: a caller's "__proto__" or "constructor" is an input name like any other (and unknown)
    const values: Record<string, InputValue> = Object.create(null)
    const names = Object.keys(raw)
    for (const name of names) {
      const read = readInputValue(raw[name], maxValues, name)
      if (read instanceof BadInput) return read
      values[name] = read
    }
    if (names.length === 0)
      return new BadInput({ message: "inputs: expected at least one input, received an empty object" })
    return { kind: "named", values }
  }
  const value = readInputValue(raw, maxValues)
  return value instanceof BadInput ? value : { kind: "single", value }
}

/** Decodes an infer request body, or returns the BadInput that says what was expected. */
export const decodeRequest = (bytes: Uint8Array, encoding: Encoding): InferRequest | BadInput => {
  const parsed = parseBody(bytes, encoding)
  if (!parsed.ok) return new BadInput({ message: parsed.reason })
  return requestOf(parsed.value, bytes.byteLength)
}

/**
 * Reads an infer request from a body already parsed (`parseBody`) from `byteLength` bytes, or returns the
 * BadInput that says what was expected.
 */
export const requestOf = (body: unknown, byteLength: number): InferRequest | BadInput => {
  if (!isRecord(body) || !("inputs" in body)) {
    return new BadInput({ message: `expected a body {"inputs": ..., "outputs"?: [...]}, received ${describe(body)}` })
  }
  const inputs = readInputs(body.inputs, byteLength)
  if (inputs instanceof BadInput) return inputs
  const { outputs, timeoutMs } = body
  if (timeoutMs !== undefined && timeoutMs !== null && !(typeof timeoutMs === "number" && timeoutMs > 0)) {
    return new BadInput({
      message: `timeoutMs: expected a number of milliseconds > 0, received ${describe(timeoutMs)}`
    })
  }
  const deadline = typeof timeoutMs === "number" ? { timeoutMs } : {}
  if (outputs === undefined || outputs === null) return { inputs, ...deadline }
  if (!Array.isArray(outputs) || outputs.length === 0 || !outputs.every((o) => typeof o === "string")) {
    return new BadInput({
      message: `outputs: expected a non-empty array of output names, received ${describe(outputs)}`
    })
  }
  return { inputs, outputs, ...deadline }
}

const wireTensor = (t: HostTensor, encoding: Encoding) => ({
  dtype: t.dtype,
  shape: t.shape,
  data: encoding === Encoding.json ? jsonValues(t.data) : bytesOf(t.data)
})

const isHostTensor = (o: ReplyOutputs): o is HostTensor => "dtype" in o && ArrayBuffer.isView((o as HostTensor).data)

/** Encodes a successful reply. */
export const encodeReply = (reply: InferReply, encoding: Encoding): Uint8Array => {
  const { outputs } = reply
  const wireOutputs = isHostTensor(outputs)
    ? wireTensor(outputs, encoding)
    : Object.fromEntries(Object.entries(outputs).map(([k, t]) => [k, wireTensor(t, encoding)]))
  return serialize({ outputs: wireOutputs, model: reply.model, version: reply.version, actor: reply.actor }, encoding)
}

/** Encodes the body of an error reply. */
export const encodeError = (error: ServiceError, encoding: Encoding): Uint8Array =>
  serialize(errorBody(error), encoding)

/** What a caller may pass as one input: a tensor (typed or plain data), or nested number arrays. */
export interface TensorInput {
  readonly dtype: DType
  readonly shape: ReadonlyArray<number>
  /** Plain numbers, or the dtype's typed array (int64: a BigInt64Array, or bigints). */
  readonly data: ArrayLike<number> | ArrayLike<bigint>
}
export type NestedArray = ReadonlyArray<number | boolean | bigint | NestedArray>
export type InferInputs = TensorInput | NestedArray | Readonly<Record<string, TensorInput | NestedArray>>

/**
 * A caller's tensor in wire form: JSON gets plain numbers; msgpack sends the dtype's own typed
 * array as raw bytes, and any other data as plain numbers for the actor to check.
 */
const wireInput = (value: TensorInput | NestedArray, encoding: Encoding): unknown => {
  if (Array.isArray(value)) return value
  const { dtype, shape, data } = value as TensorInput
  if (encoding === Encoding.json) return { dtype, shape, data: jsonValues(data) }
  const own = isDType(dtype) && data instanceof typedArrayOf[dtype]
  const plain = ArrayBuffer.isView(data) ? Array.from(data as ArrayLike<number | bigint>) : data
  return { dtype, shape, data: own ? bytesOf(data as TensorData) : plain }
}

const isTensorInput = (value: InferInputs): value is TensorInput => !Array.isArray(value) && "dtype" in value

/**
 * Encodes an infer request as a client sends it; `timeoutMs` tells the actor when the caller stops
 * waiting, so it drops the request unanswered-for rather than compute it too late.
 */
export const encodeRequest = (
  inputs: InferInputs,
  outputs: ReadonlyArray<string> | undefined,
  encoding: Encoding,
  timeoutMs?: number
): Uint8Array => {
  let wire: unknown
  if (Array.isArray(inputs) || isTensorInput(inputs)) wire = wireInput(inputs, encoding)
  else {
    const byName = inputs as Readonly<Record<string, TensorInput | NestedArray>>
    const named: Record<string, unknown> = {}
    for (const name of Object.keys(byName)) named[name] = wireInput(byName[name]!, encoding)
    wire = named
  }
  const body: Record<string, unknown> = { inputs: wire }
  if (outputs !== undefined) body.outputs = outputs
  if (timeoutMs !== undefined) body.timeoutMs = timeoutMs
  return serialize(body, encoding)
}

/** A decoded reply: the outputs, a service error the actor sent, or why it is not a modelbus reply. */
export type DecodedReply =
  | { readonly kind: "reply"; readonly reply: InferReply }
  | { readonly kind: "error"; readonly error: ServiceError }
  | { readonly kind: "malformed"; readonly reason: string }

const readOutputs = (raw: unknown): ReplyOutputs | string => {
  if (!isRecord(raw)) return `outputs: expected a tensor or a map of tensors, received ${describe(raw)}`
  if ("dtype" in raw) {
    const t = readTensor(raw, "outputs")
    return t instanceof BadInput ? t.message : t
  }
  const out: Record<string, HostTensor> = {}
  for (const [name, value] of Object.entries(raw)) {
    if (!isRecord(value)) return `outputs.${name}: expected a tensor, received ${describe(value)}`
    const t = readTensor(value, `outputs.${name}`)
    if (t instanceof BadInput) return t.message
    out[name] = t
  }
  return out
}

/** Decodes a reply body (success or error) as a client receives it. */
export const decodeReply = (bytes: Uint8Array, encoding: Encoding): DecodedReply => {
  const parsed = parseBody(bytes, encoding)
  if (!parsed.ok) return { kind: "malformed", reason: parsed.reason }
  const body = parsed.value
  const error = serviceErrorFromBody(body)
  if (error !== undefined) return { kind: "error", error }
  if (!isRecord(body)) return { kind: "malformed", reason: `expected a reply object, received ${describe(body)}` }
  const outputs = readOutputs(body.outputs)
  if (typeof outputs === "string") return { kind: "malformed", reason: outputs }
  const { model, version, actor } = body
  if (typeof model !== "string" || typeof version !== "number" || typeof actor !== "string") {
    return { kind: "malformed", reason: "expected model, version and actor fields in the reply" }
  }
  return { kind: "reply", reply: { outputs, model, version, actor } }
}
