// Training a copy of a Layers model off the serving path (`update --fit`, Ray's `update_model(X, y)`): load
// a fresh trainable model from its artifacts, fit it, and return the new artifacts and the loss.
import { rm } from "node:fs/promises"
import * as tf from "@tensorflow/tfjs-core"
import { loadLayersModel } from "@tensorflow/tfjs-layers"
import * as Effect from "effect/Effect"
import { BadInput } from "../protocol/errors.js"
import type { FitOptions } from "../protocol/fit.js"
import type { HostTensor, TensorData } from "../protocol/tensor.js"
import { messageOf } from "../protocol/values.js"
import { type ModelFiles, materialize, readModelFolder } from "./artifacts.js"
import { folderLoadHandler, folderSaveHandler, readModelJson } from "./files.js"
import { detectFormat } from "./format.js"

export interface Trained {
  readonly files: ModelFiles
  /** Training loss after each epoch. */
  readonly loss: ReadonlyArray<number>
}

/** Told after each epoch: its number (from 1), how many there are, and the training loss. */
export type OnEpoch = (epoch: number, epochs: number, loss: number) => void

/** Fits a copy of the Layers model in `files` on (x, y); the serving model is untouched. */
export const trainCopy = (
  files: ModelFiles,
  x: HostTensor,
  y: HostTensor,
  options: FitOptions,
  onEpoch: OnEpoch = () => {}
) =>
  Effect.acquireUseRelease(
    Effect.promise(() => materialize(files)),
    (folder) =>
      Effect.tryPromise({
        try: async () => {
          const json = await readModelJson(folder.dir)
          if (detectFormat(json as unknown as Record<string, unknown>) !== "layers") {
            throw new BadInput({
              message: "fit needs a Layers model; this model is a Graph model (convert and push new artifacts instead)"
            })
          }
          if (x.dtype === "int64" || y.dtype === "int64") {
            throw new BadInput({ message: "fit takes float32, int32 or bool data; TensorFlow.js has no int64" })
          }
          const model = await loadLayersModel(folderLoadHandler(folder.dir))
          const saved = (json as { trainingConfig?: { loss?: unknown } }).trainingConfig?.loss
          model.compile({
            optimizer: tf.train.adam(options.learningRate ?? 0.01),
            loss: options.loss ?? (typeof saved === "string" ? saved : "categoricalCrossentropy")
          })
          const xs = tf.tensor(x.data as Exclude<TensorData, BigInt64Array>, [...x.shape], x.dtype)
          const ys = tf.tensor(y.data as Exclude<TensorData, BigInt64Array>, [...y.shape], y.dtype)
          try {
            const epochs = options.epochs ?? 10
            const history = await model.fit(xs, ys, {
              epochs,
              batchSize: options.batchSize ?? 32,
              shuffle: false,
              verbose: 0,
              callbacks: { onEpochEnd: (epoch, logs) => onEpoch(epoch + 1, epochs, Number(logs?.loss)) }
            })
            const out = `${folder.dir}-trained`
            await model.save(folderSaveHandler(out))
            const trained = await readModelFolder(out)
            await rm(out, { recursive: true, force: true })
            return { files: trained, loss: (history.history.loss as Array<number>).map(Number) }
          } finally {
            xs.dispose()
            ys.dispose()
            model.dispose()
          }
        },
        catch: (e) => (e instanceof BadInput ? e : new BadInput({ message: `training failed: ${messageOf(e)}` }))
      }),
    (folder) => Effect.promise(() => folder.remove())
  )
