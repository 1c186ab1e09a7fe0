// Trains the Iris example model (4 → 16 relu → 3 softmax) and saves it to ./model with
// the standardisation folded into the first layer, so raw cm measurements go in.
// Run: npx tsx examples/iris/train.ts
import { fileURLToPath } from "node:url"
import * as tf from "@tensorflow/tfjs-core"
import * as tfl from "@tensorflow/tfjs-layers"
import { Effect } from "effect"
import { folderSaveHandler } from "../../src/model/files.js"
import { initRuntime, requestedBackend } from "../../src/model/runtime.js"
import { irisClasses, readIris } from "./dataset.js"

const modelFolder = fileURLToPath(new URL("./model", import.meta.url))
const epochs = 150
const batchSize = 16
const learningRate = 0.01
const holdoutShare = 0.2

/** mulberry32: a tiny seeded PRNG, so the shuffle is the same on every run. */
const seededRandom = (seed: number) => () => {
  seed = (seed + 0x6d2b79f5) | 0
  let t = Math.imul(seed ^ (seed >>> 15), 1 | seed)
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296
}

const shuffled = <A>(items: ReadonlyArray<A>, random: () => number): Array<A> => {
  const out = [...items]
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1))
    ;[out[i], out[j]] = [out[j]!, out[i]!]
  }
  return out
}

/** The serving architecture; layer names are the signature's input/output names. */
const irisModel = (): tfl.LayersModel => {
  const measurements = tfl.input({ shape: [4], name: "measurements" })
  const hidden = tfl.layers
    .dense({
      units: 16,
      activation: "relu",
      name: "hidden",
      kernelInitializer: tfl.initializers.glorotUniform({ seed: 7 })
    })
    .apply(measurements) as tfl.SymbolicTensor
  const species = tfl.layers
    .dense({
      units: irisClasses.length,
      activation: "softmax",
      name: "species",
      kernelInitializer: tfl.initializers.glorotUniform({ seed: 11 })
    })
    .apply(hidden) as tfl.SymbolicTensor
  return tfl.model({ inputs: measurements, outputs: species, name: "iris" })
}

const accuracy = (model: tfl.LayersModel, x: tf.Tensor2D, labels: ReadonlyArray<number>): number =>
  tf.tidy(() => {
    const predicted = tf.argMax(model.predict(x) as tf.Tensor, -1).dataSync()
    return labels.filter((label, i) => predicted[i] === label).length / labels.length
  })

const main = Effect.gen(function* () {
  const runtime = yield* initRuntime(yield* requestedBackend())
  console.log(`backend: ${runtime.backend}`)

  const iris = readIris()
  const order = shuffled(
    iris.measurements.map((_, i) => i),
    seededRandom(1936)
  )
  const holdout = Math.round(order.length * holdoutShare)
  const trainRows = order.slice(holdout)
  const testRows = order.slice(0, holdout)

  const raw = (rows: ReadonlyArray<number>) => tf.tensor2d(rows.map((i) => [...iris.measurements[i]!]))
  const labels = (rows: ReadonlyArray<number>) => rows.map((i) => iris.species[i]!)
  const xTrainRaw = raw(trainRows)
  const mean = tf.mean(xTrainRaw, 0)
  const std = tf.sqrt(tf.mean(tf.square(tf.sub(xTrainRaw, mean)), 0))
  const standardise = (x: tf.Tensor2D) => tf.div(tf.sub(x, mean), std) as tf.Tensor2D

  const model = irisModel()
  model.compile({ optimizer: tf.train.adam(learningRate), loss: "categoricalCrossentropy", metrics: ["accuracy"] })
  const yTrain = tf.oneHot(tf.tensor1d(labels(trainRows), "int32"), irisClasses.length)
  const started = performance.now()
  yield* Effect.promise(() =>
    model.fit(standardise(xTrainRaw), yTrain, { epochs, batchSize, shuffle: false, verbose: 0 })
  )
  console.log(
    `trained ${epochs} epochs on ${trainRows.length} flowers in ${Math.round(performance.now() - started)} ms`
  )

  // Fold (x - mean) / std into the first layer: W' = W / std (per input row), b' = b - (mean / std)·W.
  const [kernel, bias] = model.getLayer("hidden").getWeights() as [tf.Tensor2D, tf.Tensor1D]
  const scale = tf.reshape(tf.tensor1d(Array.from(std.dataSync())), [4, 1])
  const foldedKernel = tf.div(kernel, scale)
  const foldedBias = tf.sub(bias, tf.reshape(tf.matMul(tf.reshape(tf.div(mean, std), [1, 4]), kernel), [16]))
  const serving = irisModel()
  serving.getLayer("hidden").setWeights([foldedKernel, foldedBias])
  serving.getLayer("species").setWeights(model.getLayer("species").getWeights())
  serving.setUserDefinedMetadata({
    classes: [...irisClasses],
    inputs: "sepal_length,sepal_width,petal_length,petal_width (cm)"
  })

  const trainAccuracy = accuracy(serving, raw(trainRows), labels(trainRows))
  const testAccuracy = accuracy(serving, raw(testRows), labels(testRows))
  const allRows = iris.measurements.map((_, i) => i)
  const overall = accuracy(serving, raw(allRows), labels(allRows))
  console.log(
    `accuracy: train ${trainAccuracy.toFixed(3)} (${trainRows.length}), held out ${testAccuracy.toFixed(3)} (${testRows.length}), all ${overall.toFixed(3)} (150)`
  )

  yield* Effect.promise(() => serving.save(folderSaveHandler(modelFolder)))
  console.log(`saved to ${modelFolder}`)
})

Effect.runPromise(main).catch((error: unknown) => {
  console.error(error)
  process.exitCode = 1
})
