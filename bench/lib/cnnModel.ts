// The convolutional bench model: conv 3×3×16 → maxpool → conv 3×3×32 → maxpool → flatten →
// dense 10, deterministic weights, saved as a TF.js Layers model (dynamic batch) on first use.
import { existsSync } from "node:fs"
import { join } from "node:path"
import { Effect } from "effect"
import { seededRandom } from "./models.js"
import { dist } from "./paths.js"

/** Builds and saves the model into `dir` unless `dir/model.json` exists; true when it generated it. */
export const ensureCnnModel = async (dir: string): Promise<boolean> => {
  if (existsSync(join(dir, "model.json"))) return false
  const { initRuntime } = await dist.runtime()
  const { folderSaveHandler } = await dist.files()
  const tfl = await import("@tensorflow/tfjs-layers")
  const runtime = await Effect.runPromise(initRuntime("wasm"))
  const tf = runtime.tf
  const image = tfl.input({ shape: [28, 28, 1], name: "image" })
  let x = tfl.layers
    .conv2d({ filters: 16, kernelSize: 3, activation: "relu", name: "conv1" })
    .apply(image) as import("@tensorflow/tfjs-layers").SymbolicTensor
  x = tfl.layers.maxPooling2d({ poolSize: 2, name: "pool1" }).apply(x) as typeof x
  x = tfl.layers.conv2d({ filters: 32, kernelSize: 3, activation: "relu", name: "conv2" }).apply(x) as typeof x
  x = tfl.layers.maxPooling2d({ poolSize: 2, name: "pool2" }).apply(x) as typeof x
  x = tfl.layers.flatten({ name: "flatten" }).apply(x) as typeof x
  const digits = tfl.layers.dense({ units: 10, activation: "softmax", name: "digits" }).apply(x) as typeof x
  const model = tfl.model({ inputs: image, outputs: digits, name: "bench_cnn" })
  // Glorot-uniform-like values from a seeded generator, so every run builds the same model.
  const random = seededRandom(20_251_125)
  const weights = model.getWeights().map((w) => {
    const shape = w.shape
    const fanIn = shape.length > 1 ? shape.slice(0, -1).reduce((a, b) => a * b, 1) : 1
    const fanOut = shape[shape.length - 1] ?? 1
    const limit = shape.length > 1 ? Math.sqrt(6 / (fanIn + fanOut)) : 0.01
    const values = Float32Array.from({ length: w.size }, () => (random() * 2 - 1) * limit)
    return tf.tensor(values, shape, "float32")
  })
  model.setWeights(weights)
  for (const w of weights) w.dispose()
  await model.save(folderSaveHandler(dir))
  model.dispose()
  return true
}
