// Loading a TF.js model's files (Layers or Graph format) into a LoadedModel: its signature
// and a predict that turns host tensors into host tensors, leaving no tf tensor behind.
import * as Effect from "effect/Effect"
import type { HostTensor, TensorData } from "../protocol/tensor.js"
import { messageOf } from "../protocol/values.js"
import type { ModelFiles } from "./artifacts.js"
import { ModelLoadFailed } from "./errors.js"
import { filesLoadHandler, modelJsonFile } from "./files.js"
import { detectFormat, graphNeedsAsync } from "./format.js"
import type { LoadedModel } from "./loadedModel.js"
import {
  completeSpec,
  graphSpecs,
  hasDynamicBatch,
  layersSignature,
  type ModelSignature,
  probeInputs,
  type TensorSpec
} from "./specs.js"
import * as tf from "./tf.js"

/** Runs the tf model on tf tensors in signature input order; returns tensors in `outputs` order. */
type RunTensors = (
  inputs: Array<tf.Tensor>,
  outputs: ReadonlyArray<string>
) => Array<tf.Tensor> | Promise<Array<tf.Tensor>>

const asList = (result: tf.Tensor | Array<tf.Tensor> | tf.NamedTensorMap): Array<tf.Tensor> =>
  result instanceof tf.Tensor ? [result] : Array.isArray(result) ? result : Object.values(result)

/** An output tensor's values in host memory: read synchronously (every Node.js backend computes on the CPU side, so `data()` would only add a promise hop). */
const toHost = (tensor: tf.Tensor, name: string): HostTensor => {
  const { dtype } = tensor
  if (dtype !== "float32" && dtype !== "int32" && dtype !== "bool") {
    throw new Error(`output ${name} has dtype ${dtype}; modelbus serves float32, int32 and bool tensors`)
  }
  return { dtype, shape: tensor.shape, data: tensor.dataSync() as TensorData }
}

/** The host tensors of `outputs` keyed by the `wanted` names. */
const hostOutputs = (outputs: ReadonlyArray<tf.Tensor>, wanted: ReadonlyArray<string>): Record<string, HostTensor> => {
  const result: Record<string, HostTensor> = {}
  for (let i = 0; i < wanted.length; i++) {
    const name = wanted[i]!
    const tensor = outputs[i]
    if (tensor === undefined) throw new Error(`the model returned no tensor for output ${name}`)
    result[name] = toHost(tensor, name)
  }
  return result
}

/**
 * Wraps a tf model runner into LoadedModel.predict's contract: host in, host out, nothing leaked.
 * A runner that computes synchronously is read back in the same turn (no promise hop but the one returned).
 */
const hostPredictor = (signature: ModelSignature, run: RunTensors): LoadedModel["predict"] => {
  const allOutputs = signature.outputs.map((spec) => spec.name)
  return (inputs, outputNames) => {
    const wanted = outputNames ?? allOutputs
    const created: Array<tf.Tensor> = []
    const disposeAll = () => {
      for (const tensor of created) tensor.dispose()
    }
    /** The outputs in host memory; every tensor made for the call is disposed, whatever happens. */
    const readBack = (outputs: Array<tf.Tensor>) => {
      try {
        created.push(...outputs)
        return hostOutputs(outputs, wanted)
      } finally {
        disposeAll()
      }
    }
    try {
      for (const spec of signature.inputs) {
        const input = inputs[spec.name]
        if (input === undefined) throw new Error(`missing input ${spec.name}`)
        if (input.dtype === "int64") throw new Error(`input ${spec.name} is int64, which TensorFlow.js does not run`)
        created.push(
          tf.tensor(input.data as Exclude<TensorData, BigInt64Array>, input.shape as Array<number>, input.dtype)
        )
      }
      const ran = run(created.slice(), wanted)
      if (!(ran instanceof Promise)) return Promise.resolve(readBack(ran))
      return ran.then(readBack, (cause: unknown) => {
        disposeAll()
        throw cause
      })
    } catch (cause) {
      disposeAll()
      return Promise.reject(cause)
    }
  }
}

/**
 * Layers: `execute` on the model's output tensors (one pass, every output; `predict` would split the
 * batch into chunks of 32 and concatenate, and `predictOnBatch` slices and concatenates a batch of
 * one chunk, two copies per call); the wanted ones are picked by position. Inputs were checked
 * against the signature before they got here.
 */
const layersRunner = (model: tf.LayersModel, signature: ModelSignature): RunTensors => {
  const position = new Map(signature.outputs.map((spec, i) => [spec.name, i]))
  const symbolic = model.outputs.map((output) => output.name)
  return (inputs, wanted) => {
    const all = tf.tidy(() => asList(model.execute(inputs.length === 1 ? inputs[0]! : inputs, symbolic)))
    const picked = wanted.map((name) => {
      const tensor = all[position.get(name) ?? -1]
      if (tensor === undefined) throw new Error(`unknown output ${name}`)
      return tensor
    })
    for (const tensor of all) if (!picked.includes(tensor)) tensor.dispose()
    return picked
  }
}

/** Graph: execute (or executeAsync when the graph has control flow / dynamic ops) by name. */
const graphRunner = (model: tf.GraphModel, signature: ModelSignature, needsAsync: boolean): RunTensors => {
  const names = signature.inputs.map((spec) => spec.name)
  const feed = (inputs: Array<tf.Tensor>): tf.NamedTensorMap => {
    const map: tf.NamedTensorMap = {}
    names.forEach((name, i) => {
      map[name] = inputs[i]!
    })
    return map
  }
  return needsAsync
    ? async (inputs, wanted) => asList(await model.executeAsync(feed(inputs), [...wanted]))
    : (inputs, wanted) => asList(tf.tidy(() => model.execute(feed(inputs), [...wanted])))
}

const loadFailed = (folder: string, message: string) => new ModelLoadFailed({ path: folder, message })

const loadLayers = (folder: string, handler: tf.io.IOHandler) =>
  Effect.gen(function* () {
    const model = yield* Effect.tryPromise({
      try: () => tf.loadLayersModel(handler),
      catch: (cause) => loadFailed(folder, `cannot load the Layers model in ${folder}: ${messageOf(cause)}`)
    })
    const signature = yield* Effect.try({
      try: () => layersSignature(model),
      catch: (cause) => {
        model.dispose()
        return loadFailed(folder, `the Layers model in ${folder} cannot be served: ${messageOf(cause)}`)
      }
    })
    return {
      signature,
      weights: () =>
        model.weights.map((w) => ({
          name: w.originalName,
          dtype: w.dtype,
          values: () => w.read().data<"float32">()
        })),
      predict: hostPredictor(signature, layersRunner(model, signature)),
      dispose: () => model.dispose()
    }
  })

/** Fills in output dtypes/shapes the graph does not state by running it once on zeros. */
const probeOutputs = async (
  inputs: ReadonlyArray<TensorSpec>,
  outputs: ReturnType<typeof graphSpecs>["outputs"],
  run: RunTensors
): Promise<Array<TensorSpec>> => {
  const complete = outputs.flatMap((o) =>
    o.dtype !== undefined && o.shape !== undefined ? [{ ...o, dtype: o.dtype, shape: o.shape }] : []
  )
  if (complete.length === outputs.length) return complete
  const draft: ModelSignature = {
    format: "graph",
    inputs,
    outputs: outputs.map((o) => ({ name: o.name, dtype: "float32", shape: [] }))
  }
  const probed = await hostPredictor(draft, run)(probeInputs(inputs))
  const batchIsDynamic = hasDynamicBatch(inputs)
  return outputs.map((o) => completeSpec(o, probed[o.name]!, batchIsDynamic))
}

const loadGraph = (folder: string, handler: tf.io.IOHandler, modelJson: tf.io.ModelJSON) =>
  Effect.gen(function* () {
    const model = yield* Effect.tryPromise({
      try: () => tf.loadGraphModel(handler),
      catch: (cause) => loadFailed(folder, `cannot load the Graph model in ${folder}: ${messageOf(cause)}`)
    })
    const needsAsync = graphNeedsAsync(modelJson.modelTopology)
    const signature = yield* Effect.tryPromise({
      try: async (): Promise<ModelSignature> => {
        const specs = graphSpecs(model, model.modelSignature ?? modelJson.signature)
        const draft: ModelSignature = { format: "graph", inputs: specs.inputs, outputs: [] }
        const outputs = await probeOutputs(specs.inputs, specs.outputs, graphRunner(model, draft, needsAsync))
        return { format: "graph", inputs: specs.inputs, outputs }
      },
      catch: (cause) => {
        model.dispose()
        return loadFailed(folder, `the Graph model in ${folder} cannot be served: ${messageOf(cause)}`)
      }
    })
    return {
      signature,
      weights: () =>
        Object.entries(model.weights).flatMap(([name, tensors]) =>
          tensors.map((t, i) => ({
            name: tensors.length === 1 ? name : `${name}:${i}`,
            dtype: t.dtype,
            values: () => t.data<"float32">()
          }))
        ),
      predict: hostPredictor(signature, graphRunner(model, signature, needsAsync)),
      dispose: () => model.dispose()
    }
  })

const formatProblem = (where: string) =>
  `the ${modelJsonFile} of ${where} is neither a Layers model (format "layers-model", or a topology with ` +
  `class_name and config) nor a Graph model (format "graph-model", or a topology with a node list)`

/**
 * Loads a TF.js model (Layers or Graph, whichever model.json describes) from its files in memory, checked
 * beforehand; `where` names it in errors (a folder, or `iris v3`). Run `initRuntime` first so it lands on
 * the chosen backend.
 */
export const loadTfjsFiles = Effect.fnUntraced(function* (
  files: ModelFiles,
  where: string
): Effect.fn.Return<LoadedModel, ModelLoadFailed> {
  const modelJson = yield* Effect.try({
    try: () => JSON.parse(new TextDecoder().decode(files.get(modelJsonFile))) as tf.io.ModelJSON,
    catch: (cause) => loadFailed(where, `${where}: ${messageOf(cause)}`)
  })
  const format = detectFormat(modelJson as unknown as Record<string, unknown>)
  const handler = filesLoadHandler(modelJson, files)
  if (format === "layers") return yield* loadLayers(where, handler)
  if (format === "graph") return yield* loadGraph(where, handler, modelJson)
  return yield* loadFailed(where, formatProblem(where))
})
