// A small builder of ONNX models for tests and benches: inputs, outputs, nodes and float/int64
// initializers in, model.onnx bytes out (encoded by protobufjs with the ONNX schema subset).
import { mkdir, writeFile } from "node:fs/promises"
import { join } from "node:path"
import { AttributeType, ModelProto, OnnxDataType } from "./schema.js"

export type OnnxDType = "float32" | "int32" | "int64" | "bool"

const dataTypes: Record<OnnxDType, number> = {
  float32: OnnxDataType.float,
  int32: OnnxDataType.int32,
  int64: OnnxDataType.int64,
  bool: OnnxDataType.bool
}

/** An input or output: a number is a fixed size, a string a named symbolic dimension, null an unnamed one. */
export interface ValueSpec {
  readonly name: string
  readonly dtype: OnnxDType
  readonly shape: ReadonlyArray<number | string | null>
  /** A sequence of such tensors instead of one (what skl2onnx's ZipMap-less classifiers avoid). */
  readonly sequence?: boolean
}

export type AttributeValue =
  | number
  | { readonly int: number }
  | ReadonlyArray<number>
  | { readonly ints: ReadonlyArray<number> }
  | string
  | { readonly tensor: Initializer }
  | { readonly graph: GraphSpec }

export interface NodeSpec {
  readonly op: string
  readonly inputs: ReadonlyArray<string>
  readonly outputs: ReadonlyArray<string>
  readonly attributes?: Readonly<Record<string, AttributeValue>>
  readonly domain?: string
}

/** A weight: float32 values (stored as raw_data unless `asFloatData`), or int64 values. */
export interface Initializer {
  readonly name: string
  readonly dims: ReadonlyArray<number>
  readonly float32?: ArrayLike<number>
  readonly int64?: ReadonlyArray<number | bigint>
  readonly asFloatData?: boolean
  /** Marks the data as kept in an external file (to test that such models are refused). */
  readonly external?: boolean
}

export interface GraphSpec {
  readonly name?: string
  readonly inputs: ReadonlyArray<ValueSpec>
  readonly outputs: ReadonlyArray<ValueSpec>
  readonly nodes: ReadonlyArray<NodeSpec>
  readonly initializers?: ReadonlyArray<Initializer>
}

export interface ModelSpec extends GraphSpec {
  /** Operator sets by domain ("" is ai.onnx); default ai.onnx 17. */
  readonly opsets?: Readonly<Record<string, number>>
}

const valueInfo = (v: ValueSpec) => {
  const tensorType = {
    elemType: dataTypes[v.dtype],
    shape: {
      dim: v.shape.map((d) => (typeof d === "number" ? { dimValue: d } : typeof d === "string" ? { dimParam: d } : {}))
    }
  }
  return { name: v.name, type: v.sequence === true ? { sequenceType: { elemType: { tensorType } } } : { tensorType } }
}

const tensor = (t: Initializer) => {
  const base = { name: t.name, dims: [...t.dims], ...(t.external === true ? { dataLocation: 1 } : {}) }
  if (t.int64 !== undefined) return { ...base, dataType: OnnxDataType.int64, int64Data: t.int64.map((v) => String(v)) }
  const values = Float32Array.from(t.float32 ?? [])
  return t.asFloatData === true
    ? { ...base, dataType: OnnxDataType.float, floatData: Array.from(values) }
    : { ...base, dataType: OnnxDataType.float, rawData: new Uint8Array(values.buffer) }
}

const attribute = (name: string, value: AttributeValue): Record<string, unknown> => {
  if (typeof value === "number") return { name, type: AttributeType.float, f: value }
  if (typeof value === "string") return { name, type: AttributeType.string, s: new TextEncoder().encode(value) }
  if (Array.isArray(value)) return { name, type: AttributeType.floats, floats: [...value] }
  if ("int" in value) return { name, type: AttributeType.int, i: value.int }
  if ("ints" in value) return { name, type: AttributeType.ints, ints: [...value.ints] }
  if ("tensor" in value) return { name, type: AttributeType.tensor, t: tensor(value.tensor) }
  return { name, type: AttributeType.graph, g: graph((value as { graph: GraphSpec }).graph) }
}

const graph = (spec: GraphSpec): Record<string, unknown> => ({
  name: spec.name ?? "graph",
  input: spec.inputs.map(valueInfo),
  output: spec.outputs.map(valueInfo),
  initializer: (spec.initializers ?? []).map(tensor),
  node: spec.nodes.map((n, i) => ({
    name: `${n.op.toLowerCase()}_${i}`,
    opType: n.op,
    input: [...n.inputs],
    output: [...n.outputs],
    ...(n.domain === undefined ? {} : { domain: n.domain }),
    attribute: Object.entries(n.attributes ?? {}).map(([k, v]) => attribute(k, v))
  }))
})

/** The model.onnx bytes of `spec`. */
export const onnxModel = (spec: ModelSpec): Uint8Array => {
  const opsets = spec.opsets ?? { "": 17 }
  const message = ModelProto.fromObject({
    irVersion: 8,
    producerName: "modelbus-tests",
    opsetImport: Object.entries(opsets).map(([domain, version]) => ({ domain, version })),
    graph: graph(spec)
  })
  return ModelProto.encode(message).finish()
}

/** Writes `spec` as `dir/model.onnx`, creating `dir`; returns `dir`. */
export const writeOnnxModel = async (dir: string, spec: ModelSpec): Promise<string> => {
  await mkdir(dir, { recursive: true })
  await writeFile(join(dir, "model.onnx"), onnxModel(spec))
  return dir
}
