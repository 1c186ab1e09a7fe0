// The two bench models (the Iris example, the generated CNN): folder, input name, one sample's
// shape, a deterministic pool of inputs, and their msgpack request bodies (the project's codec).
import { CNN_MODEL_DIR, IRIS_MODEL_DIR } from "./paths.js"

export interface BenchModel {
  /** Model name as served (a subject token). */
  readonly name: "iris" | "cnn"
  readonly label: string
  readonly dir: string
  readonly inputName: string
  /** One sample's shape, without the batch dimension. */
  readonly sampleShape: ReadonlyArray<number>
  readonly sampleSize: number
}

export const MODELS: ReadonlyArray<BenchModel> = [
  {
    name: "iris",
    label: "Iris (dense 4→16→3)",
    dir: IRIS_MODEL_DIR,
    inputName: "measurements",
    sampleShape: [4],
    sampleSize: 4
  },
  {
    name: "cnn",
    label: "CNN 28×28×1 (conv16-pool-conv32-pool-dense10)",
    dir: CNN_MODEL_DIR,
    inputName: "image",
    sampleShape: [28, 28, 1],
    sampleSize: 784
  }
]

export const modelNamed = (name: string): BenchModel => {
  const model = MODELS.find((m) => m.name === name)
  if (model === undefined) throw new Error(`unknown bench model ${name}`)
  return model
}

/** mulberry32: a tiny seeded PRNG. */
export const seededRandom = (seed: number) => () => {
  seed = (seed + 0x6d2b79f5) | 0
  let t = Math.imul(seed ^ (seed >>> 15), 1 | seed)
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296
}

const IRIS_ROWS = [
  [5.1, 3.5, 1.4, 0.2],
  [6.7, 3.0, 5.2, 2.3],
  [5.9, 3.0, 4.2, 1.5],
  [4.9, 3.1, 1.5, 0.1]
]

/** `batch` samples of the model's input, flat, deterministic (different for each `seed`). */
export const sampleData = (model: BenchModel, batch: number, seed = 1): Float32Array => {
  const random = seededRandom(seed)
  const out = new Float32Array(batch * model.sampleSize)
  for (let b = 0; b < batch; b++) {
    for (let j = 0; j < model.sampleSize; j++) {
      out[b * model.sampleSize + j] =
        model.name === "iris" ? IRIS_ROWS[(b + seed) % IRIS_ROWS.length]![j]! + (random() - 0.5) * 0.2 : random()
    }
  }
  return out
}

/** A tensor input for one request: `batch` samples. */
export const tensorInput = (model: BenchModel, batch: number, seed = 1) => ({
  dtype: "float32" as const,
  shape: [batch, ...model.sampleShape],
  data: sampleData(model, batch, seed)
})

/** A pool of distinct single-sample inputs (requests cycle through it). */
export const inputPool = (model: BenchModel, size = 16) =>
  Array.from({ length: size }, (_, i) => tensorInput(model, 1, i + 1))
