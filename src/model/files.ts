// Model folders on disk as TensorFlow.js IO handlers: read model.json + its weight files,
// write model.json + weights.bin. Plain @tensorflow/tfjs has no file:// handler of its own.
import { mkdir, readFile, stat, writeFile } from "node:fs/promises"
import path from "node:path"
import * as tf from "@tensorflow/tfjs"
import { isRecord, messageOf } from "../protocol/values.js"

type ModelJSON = tf.io.ModelJSON
type ModelArtifacts = tf.io.ModelArtifacts
type WeightsManifestConfig = tf.io.WeightsManifestConfig
type WeightsManifestEntry = tf.io.WeightsManifestEntry

export const modelJsonFile = "model.json"
export const weightsFile = "weights.bin"

const isErrorCode = (cause: unknown, code: string): boolean =>
  typeof cause === "object" && cause !== null && (cause as { code?: unknown }).code === code

/** A weight path of the manifest, resolved inside `folder`; throws when it would leave the folder. */
export const weightPath = (folder: string, relative: string): string => {
  const file = path.resolve(folder, relative)
  if (path.isAbsolute(relative) || !file.startsWith(folder + path.sep)) {
    throw new Error(
      `weight path ${JSON.stringify(relative)} in ${path.join(folder, modelJsonFile)} leaves the model folder`
    )
  }
  return file
}

/**
 * Reads and checks `<dir>/model.json`, returning it parsed and as the bytes read. Throws an Error
 * whose message names the path and says what is wrong: no folder, not a folder, no model.json,
 * bad JSON, no topology or weights manifest.
 */
export const readModelJsonFile = async (
  dir: string
): Promise<{ readonly json: ModelJSON; readonly bytes: Uint8Array }> => {
  const folder = path.resolve(dir)
  const info = await stat(folder).catch((cause: unknown) => {
    throw new Error(
      isErrorCode(cause, "ENOENT") ? `no model folder at ${folder}` : `cannot read ${folder}: ${messageOf(cause)}`
    )
  })
  if (!info.isDirectory()) throw new Error(`${folder} is not a folder (expected a folder holding ${modelJsonFile})`)
  const file = path.join(folder, modelJsonFile)
  const bytes = await readFile(file).catch((cause: unknown) => {
    throw new Error(
      isErrorCode(cause, "ENOENT") ? `no ${modelJsonFile} in ${folder}` : `cannot read ${file}: ${messageOf(cause)}`
    )
  })
  let json: unknown
  try {
    json = JSON.parse(bytes.toString("utf8"))
  } catch (cause) {
    throw new Error(`${file} is not valid JSON: ${messageOf(cause)}`)
  }
  if (!isRecord(json)) throw new Error(`${file} is not a JSON object`)
  if (!isRecord(json.modelTopology)) throw new Error(`${file} has no modelTopology object`)
  const manifest = json.weightsManifest ?? []
  if (
    !Array.isArray(manifest) ||
    !manifest.every((g) => isRecord(g) && Array.isArray(g.paths) && Array.isArray(g.weights))
  ) {
    throw new Error(`${file} has a weightsManifest that is not a list of {paths, weights} groups`)
  }
  return {
    json: { ...json, modelTopology: json.modelTopology, weightsManifest: manifest as WeightsManifestConfig },
    bytes
  }
}

/** Reads and checks `<dir>/model.json` (see readModelJsonFile). */
export const readModelJson = async (dir: string): Promise<ModelJSON> => (await readModelJsonFile(dir)).json

/** Concatenates byte chunks into one ArrayBuffer, in order. */
const concatenate = (chunks: ReadonlyArray<Uint8Array>): ArrayBuffer => {
  const total = chunks.reduce((sum, chunk) => sum + chunk.byteLength, 0)
  const out = new Uint8Array(total)
  let offset = 0
  for (const chunk of chunks) {
    out.set(chunk, offset)
    offset += chunk.byteLength
  }
  return out.buffer
}

/**
 * Reads every weight file the manifest lists (paths relative to the folder), in manifest
 * order, into one ArrayBuffer, with the weight specs in the same order.
 */
export const readWeights = async (
  dir: string,
  manifest: WeightsManifestConfig
): Promise<[Array<WeightsManifestEntry>, ArrayBuffer]> => {
  const folder = path.resolve(dir)
  const specs: Array<WeightsManifestEntry> = []
  const chunks: Array<Uint8Array> = []
  for (const group of manifest) {
    specs.push(...group.weights)
    for (const relative of group.paths) {
      const file = weightPath(folder, relative)
      const bytes = await readFile(file).catch((cause: unknown) => {
        throw new Error(
          isErrorCode(cause, "ENOENT")
            ? `weight file ${file} listed in ${path.join(folder, modelJsonFile)} is missing`
            : `cannot read weight file ${file}: ${messageOf(cause)}`
        )
      })
      chunks.push(bytes)
    }
  }
  return [specs, concatenate(chunks)]
}

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
