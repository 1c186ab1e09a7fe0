// Model folders on disk as TensorFlow.js IO handlers: read model.json + its weight files,
// write model.json + weights.bin. @tensorflow/tfjs-core has no file:// handler of its own.
import { mkdir, writeFile } from "node:fs/promises"
import path from "node:path"
import * as tf from "@tensorflow/tfjs-core"
import { concatenate, modelJsonFile, readModelJson, readWeights, weightsFile } from "./modelFolder.js"

export { modelJsonFile, readModelJson, readWeights, weightsFile } from "./modelFolder.js"

type ModelJSON = tf.io.ModelJSON
type ModelArtifacts = tf.io.ModelArtifacts
type WeightsManifestEntry = tf.io.WeightsManifestEntry

/**
 * An IO handler that loads a model from its files in memory (name → bytes, as the manifest spells
 * the names; checked beforehand), for tf.loadLayersModel / tf.loadGraphModel.
 */
export const filesLoadHandler = (json: ModelJSON, files: ReadonlyMap<string, Uint8Array>): tf.io.IOHandler => ({
  load: async () =>
    tf.io.getModelArtifactsForJSON(json, async (manifest) => {
      const specs = manifest.flatMap((group) => group.weights)
      const chunks = manifest.flatMap((group) =>
        group.paths.map((name) => {
          const bytes = files.get(name)
          if (bytes === undefined) throw new Error(`weight file ${name} is missing`)
          return bytes
        })
      )
      return [specs, concatenate(chunks)]
    })
})

/**
 * An IO handler that loads the model in `dir` for tf.loadLayersModel / tf.loadGraphModel.
 * Pass `modelJson` when it has already been read, to skip reading it twice.
 */
export const folderLoadHandler = (dir: string, modelJson?: ModelJSON): tf.io.IOHandler => ({
  load: async () => {
    const json = modelJson ?? (await readModelJson(dir))
    return tf.io.getModelArtifactsForJSON(json, (manifest) => readWeights(dir, manifest))
  }
})

/** The model.json that describes `artifacts` with all weights in one `weights.bin`. */
export const modelJsonFor = (artifacts: ModelArtifacts, weightSpecs: Array<WeightsManifestEntry>): ModelJSON => {
  const topology = artifacts.modelTopology
  if (topology === undefined || topology instanceof ArrayBuffer) {
    throw new Error("only models with a JSON modelTopology can be saved to a folder")
  }
  const json: ModelJSON = {
    modelTopology: topology,
    weightsManifest: [{ paths: [weightsFile], weights: weightSpecs }]
  }
  if (artifacts.format !== undefined) json.format = artifacts.format
  if (artifacts.generatedBy !== undefined) json.generatedBy = artifacts.generatedBy
  if (artifacts.convertedBy !== undefined) json.convertedBy = artifacts.convertedBy
  if (artifacts.trainingConfig !== undefined) json.trainingConfig = artifacts.trainingConfig
  if (artifacts.signature !== undefined) json.signature = artifacts.signature
  if (artifacts.userDefinedMetadata !== undefined) json.userDefinedMetadata = artifacts.userDefinedMetadata
  if (artifacts.modelInitializer !== undefined) json.modelInitializer = artifacts.modelInitializer
  if (artifacts.initializerSignature !== undefined) json.initializerSignature = artifacts.initializerSignature
  return json
}

/** An IO handler for model.save(): writes `dir/model.json` and `dir/weights.bin`, creating `dir`. */
export const folderSaveHandler = (dir: string): tf.io.IOHandler => ({
  save: async (artifacts) => {
    const folder = path.resolve(dir)
    const json = modelJsonFor(artifacts, artifacts.weightSpecs ?? [])
    const weights =
      artifacts.weightData === undefined ? new ArrayBuffer(0) : tf.io.CompositeArrayBuffer.join(artifacts.weightData)
    await mkdir(folder, { recursive: true })
    await writeFile(path.join(folder, weightsFile), new Uint8Array(weights))
    await writeFile(path.join(folder, modelJsonFile), `${JSON.stringify(json, null, 2)}\n`)
    return { modelArtifactsInfo: tf.io.getModelArtifactsInfoForJSON(artifacts) }
  }
})
