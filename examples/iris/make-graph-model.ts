// Writes the trained Iris Layers model as an equivalent TF.js Graph model (a GraphDef in
// JSON, as tensorflowjs_converter emits) into test/fixtures/iris-graph, with no converter.
// Run: npx tsx examples/iris/make-graph-model.ts
import { mkdir, writeFile } from "node:fs/promises"
import path from "node:path"
import { fileURLToPath } from "node:url"
import { loadLayersModel } from "@tensorflow/tfjs-layers"
import { Effect } from "effect"
import { folderLoadHandler, modelJsonFile, weightsFile } from "../../src/model/files.js"
import { initRuntime } from "../../src/model/runtime.js"

const layersFolder = fileURLToPath(new URL("./model", import.meta.url))
const graphFolder = fileURLToPath(new URL("../../test/fixtures/iris-graph", import.meta.url))

interface Weight {
  readonly name: string
  readonly shape: ReadonlyArray<number>
  readonly values: Float32Array
}

const float = { type: "DT_FLOAT" }
const dims = (shape: ReadonlyArray<number>) => ({ dim: shape.map((d) => ({ size: String(d) })) })
const nhwc = Buffer.from("NHWC").toString("base64")

const placeholder = (name: string, shape: ReadonlyArray<number>) => ({
  name,
  op: "Placeholder",
  attr: { dtype: float, shape: { shape: dims(shape) } }
})

const constant = (weight: Weight) => ({
  name: weight.name,
  op: "Const",
  attr: { dtype: float, value: { tensor: { dtype: "DT_FLOAT", tensorShape: dims(weight.shape) } } }
})

/** MatMul → BiasAdd → activation, the nodes a Keras Dense layer freezes into. */
const dense = (layer: string, input: string, activation: "Relu" | "Softmax", outputName: string) => [
  {
    name: `${layer}/MatMul`,
    op: "MatMul",
    input: [input, `${layer}/kernel`],
    attr: { T: float, transpose_a: { b: false }, transpose_b: { b: false } }
  },
  {
    name: `${layer}/BiasAdd`,
    op: "BiasAdd",
    input: [`${layer}/MatMul`, `${layer}/bias`],
    attr: { T: float, data_format: { s: nhwc } }
  },
  { name: outputName, op: activation, input: [`${layer}/BiasAdd`], attr: { T: float } }
]

const tensorSignature = (name: string, shape: ReadonlyArray<number>) => ({
  name: `${name}:0`,
  dtype: "DT_FLOAT",
  tensorShape: dims(shape)
})

const main = Effect.gen(function* () {
  yield* initRuntime()
  const layers = yield* Effect.promise(() => loadLayersModel(folderLoadHandler(layersFolder)))
  const weights: Array<Weight> = []
  for (const layer of ["hidden", "species"]) {
    const [kernel, bias] = layers.getLayer(layer).getWeights()
    for (const [suffix, tensor] of [
      ["kernel", kernel!],
      ["bias", bias!]
    ] as const) {
      weights.push({ name: `${layer}/${suffix}`, shape: tensor.shape, values: tensor.dataSync() as Float32Array })
    }
  }
  layers.dispose()

  const modelJson = {
    format: "graph-model",
    generatedBy: "modelbus examples/iris/make-graph-model.ts",
    convertedBy: "modelbus examples/iris/make-graph-model.ts (from examples/iris/model)",
    modelTopology: {
      node: [
        placeholder("measurements", [-1, 4]),
        ...weights.map(constant),
        ...dense("hidden", "measurements", "Relu", "hidden/Relu"),
        ...dense("species", "hidden/Relu", "Softmax", "species")
      ],
      library: {},
      versions: { producer: 1395 }
    },
    signature: {
      inputs: { measurements: tensorSignature("measurements", [-1, 4]) },
      outputs: { species: tensorSignature("species", [-1, 3]) }
    },
    weightsManifest: [
      {
        paths: [weightsFile],
        weights: weights.map((w) => ({ name: w.name, shape: w.shape, dtype: "float32" }))
      }
    ],
    userDefinedMetadata: { classes: ["setosa", "versicolor", "virginica"] }
  }

  const bytes = Buffer.concat(
    weights.map((w) => Buffer.from(w.values.buffer, w.values.byteOffset, w.values.byteLength))
  )
  yield* Effect.promise(async () => {
    await mkdir(graphFolder, { recursive: true })
    await writeFile(path.join(graphFolder, weightsFile), bytes)
    await writeFile(path.join(graphFolder, modelJsonFile), `${JSON.stringify(modelJson, null, 2)}\n`)
  })
  console.log(`wrote the Graph model (${weights.length} weights, ${bytes.byteLength} bytes) to ${graphFolder}`)
})

Effect.runPromise(main).catch((error: unknown) => {
  console.error(error)
  process.exitCode = 1
})
