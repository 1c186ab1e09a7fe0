// What model.onnx holds, read without ONNX Runtime: that it is an ONNX model with a graph, its float
// weights (initializers and Constant values) for the finiteness check, and refusals for what modelbus cannot serve.
import { type Field, floatCount, floatsOf, readFields, textOf, varintsOf, WireType } from "./protobuf.js"

/** The file name that makes a model folder an ONNX model. */
export const onnxModelFile = "model.onnx"

/** ONNX TensorProto.DataType values modelbus reads weights of. */
const FLOAT = 1

/** One float32 weight of the graph: an initializer, or the value of a Constant node. */
export interface OnnxWeight {
  readonly name: string
  /** How many values it holds. */
  readonly count: number
  /** Its values, copied out of the file's bytes on each call. */
  readonly values: () => Float32Array
}

export interface OnnxModelFile {
  readonly irVersion: number
  /** The operator sets it imports: `""` (ai.onnx) and others such as `ai.onnx.ml`. */
  readonly opsets: ReadonlyArray<{ readonly domain: string; readonly version: number }>
  readonly producer: string
  readonly weights: ReadonlyArray<OnnxWeight>
}

export type OnnxRead =
  | { readonly ok: true; readonly model: OnnxModelFile }
  | { readonly ok: false; readonly reason: string }

// Field numbers of onnx.proto (ModelProto, GraphProto, NodeProto, AttributeProto, TensorProto, OperatorSetIdProto).
const Model = { irVersion: 1, producerName: 2, opsetImport: 8, graph: 7 } as const
const Graph = { node: 1, initializer: 5 } as const
const Node = { output: 2, opType: 4, attribute: 5 } as const
const Attribute = { name: 1, t: 5 } as const
const Tensor = { dims: 1, dataType: 2, floatData: 4, name: 8, rawData: 9, dataLocation: 14 } as const
const Opset = { domain: 1, version: 2 } as const
const EXTERNAL = 1

const byNumber = (fields: ReadonlyArray<Field>, number: number): Array<Field> =>
  fields.filter((f) => f.number === number)
const first = (fields: ReadonlyArray<Field>, number: number): Field | undefined =>
  fields.find((f) => f.number === number)
const text = (fields: ReadonlyArray<Field>, number: number): string | undefined => {
  const field = first(fields, number)
  return field === undefined ? undefined : textOf(field)
}
const varint = (fields: ReadonlyArray<Field>, number: number): number | undefined => {
  const field = first(fields, number)
  return field?.wire === WireType.varint ? field.value : undefined
}

type Step<A> = { readonly ok: true; readonly value: A } | { readonly ok: false; readonly reason: string }
const fail = (reason: string) => ({ ok: false, reason }) as const

/** A float32 TensorProto's values (raw_data or float_data); undefined for other dtypes; refuses external data. */
const tensorWeight = (bytes: Uint8Array, fallbackName: string): Step<OnnxWeight | undefined> => {
  const read = readFields(bytes)
  if (!read.ok) return fail(`a tensor does not decode: ${read.reason}`)
  const fields = read.fields
  const name = text(fields, Tensor.name) || fallbackName
  if (varint(fields, Tensor.dataLocation) === EXTERNAL) {
    return fail(
      `initializer ${JSON.stringify(name)} keeps its data in an external file; modelbus serves models whose weights are inside model.onnx`
    )
  }
  if ((varint(fields, Tensor.dataType) ?? 0) !== FLOAT) return { ok: true, value: undefined }
  const dims = varintsOf(byNumber(fields, Tensor.dims))
  if (dims === undefined) return fail(`tensor ${JSON.stringify(name)} has malformed dims`)
  const count = dims.reduce((n, d) => n * d, 1)
  const raw = first(fields, Tensor.rawData)
  if (raw !== undefined && raw.wire === WireType.bytes) {
    if (raw.bytes.length !== count * 4) {
      return fail(
        `tensor ${JSON.stringify(name)} of dims [${dims.join(", ")}] holds ${raw.bytes.length} bytes of raw data`
      )
    }
    const values = () => {
      const out = new Float32Array(count)
      new Uint8Array(out.buffer).set(raw.bytes)
      return out
    }
    return { ok: true, value: { name, count, values } }
  }
  const floats = byNumber(fields, Tensor.floatData)
  const held = floatCount(floats)
  if (held !== count) {
    return fail(`tensor ${JSON.stringify(name)} of dims [${dims.join(", ")}] holds ${held ?? "malformed"} floats`)
  }
  return { ok: true, value: { name, count, values: () => floatsOf(floats)! } }
}

/** The float value of a Constant node (attribute `value`), if it has one. */
const constantWeight = (fields: ReadonlyArray<Field>): Step<OnnxWeight | undefined> => {
  const output = text(fields, Node.output) || "constant"
  for (const attribute of byNumber(fields, Node.attribute)) {
    if (attribute.wire !== WireType.bytes) return fail("a node attribute is not a message")
    const read = readFields(attribute.bytes)
    if (!read.ok) return fail(`a node attribute does not decode: ${read.reason}`)
    const t = first(read.fields, Attribute.t)
    if (text(read.fields, Attribute.name) === "value" && t?.wire === WireType.bytes)
      return tensorWeight(t.bytes, output)
  }
  return { ok: true, value: undefined }
}

const graphWeights = (bytes: Uint8Array): Step<Array<OnnxWeight>> => {
  const read = readFields(bytes)
  if (!read.ok) return fail(`the graph does not decode: ${read.reason}`)
  const weights: Array<OnnxWeight> = []
  for (const field of read.fields) {
    if (field.number !== Graph.initializer && field.number !== Graph.node) continue
    if (field.wire !== WireType.bytes) return fail(`graph field ${field.number} is not a message`)
    let weight: Step<OnnxWeight | undefined>
    if (field.number === Graph.initializer) weight = tensorWeight(field.bytes, `initializer ${weights.length}`)
    else {
      const node = readFields(field.bytes)
      if (!node.ok) return fail(`a node does not decode: ${node.reason}`)
      weight =
        text(node.fields, Node.opType) === "Constant" ? constantWeight(node.fields) : { ok: true, value: undefined }
    }
    if (!weight.ok) return weight
    if (weight.value !== undefined) weights.push(weight.value)
  }
  return { ok: true, value: weights }
}

const opsetsOf = (fields: ReadonlyArray<Field>): Step<OnnxModelFile["opsets"]> => {
  const opsets: Array<{ domain: string; version: number }> = []
  for (const field of byNumber(fields, Model.opsetImport)) {
    if (field.wire !== WireType.bytes) return fail("an opset_import is not a message")
    const read = readFields(field.bytes)
    if (!read.ok) return fail(`an opset_import does not decode: ${read.reason}`)
    opsets.push({ domain: text(read.fields, Opset.domain) ?? "", version: varint(read.fields, Opset.version) ?? 0 })
  }
  return { ok: true, value: opsets }
}

/**
 * Reads model.onnx: an ONNX ModelProto with an ir_version and a graph, every float32 weight of its
 * main graph (subgraphs of If and Loop are left to ONNX Runtime). Refuses weights in external files.
 */
export const readOnnxModel = (bytes: Uint8Array): OnnxRead => {
  const read = readFields(bytes)
  if (!read.ok) return fail(`${onnxModelFile} is not a protobuf message: ${read.reason}`)
  const irVersion = varint(read.fields, Model.irVersion)
  const graph = first(read.fields, Model.graph)
  if (irVersion === undefined || graph === undefined || graph.wire !== WireType.bytes) {
    return fail(`${onnxModelFile} is not an ONNX model: it has no ${irVersion === undefined ? "ir_version" : "graph"}`)
  }
  const opsets = opsetsOf(read.fields)
  if (!opsets.ok) return opsets
  const weights = graphWeights(graph.bytes)
  if (!weights.ok) return weights
  return {
    ok: true,
    model: {
      irVersion,
      opsets: opsets.value,
      producer: text(read.fields, Model.producerName) ?? "",
      weights: weights.value
    }
  }
}
