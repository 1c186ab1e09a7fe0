// What kind of TensorFlow.js model a model.json describes (Layers or Graph), and whether a
import { isRecord } from "../protocol/values.js"
// Graph model needs executeAsync. Pure functions over the parsed JSON.
export const ModelFormat = {
  layers: "layers",
  graph: "graph"
} as const
export type ModelFormat = (typeof ModelFormat)[keyof typeof ModelFormat]

/**
 * Layers: `format: "layers-model"`, or a Keras topology (`class_name` + `config`, possibly
 * under `model_config`). Graph: `format: "graph-model"`, or a GraphDef (`node` list).
 * Undefined when it is neither.
 */
export const detectFormat = (modelJson: Readonly<Record<string, unknown>>): ModelFormat | undefined => {
  const format = modelJson.format
  if (format === "layers-model") return ModelFormat.layers
  if (format === "graph-model") return ModelFormat.graph
  const topology = modelJson.modelTopology
  if (!isRecord(topology)) return undefined
  if (Array.isArray(topology.node)) return ModelFormat.graph
  const keras = isRecord(topology.model_config) ? topology.model_config : topology
  if (typeof keras.class_name === "string" && isRecord(keras.config)) return ModelFormat.layers
  return undefined
}

/** Ops that make GraphModel.execute refuse to run (control flow, dynamic shapes, hash tables). */
export const asyncOnlyOps: ReadonlySet<string> = new Set([
  "Switch",
  "Merge",
  "Enter",
  "Exit",
  "NextIteration",
  "StatelessIf",
  "StatelessWhile",
  "If",
  "While",
  "NonMaxSuppressionV2",
  "NonMaxSuppressionV3",
  "NonMaxSuppressionV4",
  "NonMaxSuppressionV5",
  "Where",
  "HashTable",
  "HashTableV2",
  "LookupTableImport",
  "LookupTableImportV2",
  "LookupTableFind",
  "LookupTableFindV2",
  "LookupTableSize",
  "LookupTableSizeV2"
])

const nodeOps = (nodes: unknown): Array<string> =>
  Array.isArray(nodes) ? nodes.flatMap((node) => (isRecord(node) && typeof node.op === "string" ? [node.op] : [])) : []

/**
 * True when a GraphDef (model.json's modelTopology) has ops that only executeAsync can
 * run, or functions in its library (tf.function control flow).
 */
export const graphNeedsAsync = (topology: unknown): boolean => {
  if (!isRecord(topology)) return false
  if (nodeOps(topology.node).some((op) => asyncOnlyOps.has(op))) return true
  const library = topology.library
  return isRecord(library) && Array.isArray(library.function) && library.function.length > 0
}
