// A model folder on disk without TensorFlow.js: model.json read and checked, weight paths kept inside
// the folder, weight files read in manifest order (the types only come from @tensorflow/tfjs-core).
import { readFile, stat } from "node:fs/promises"
import path from "node:path"
import type * as tf from "@tensorflow/tfjs-core"
import { isRecord, messageOf } from "../protocol/values.js"

type ModelJSON = tf.io.ModelJSON
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
      isErrorCode(cause, "ENOENT")
        ? `no ${modelJsonFile} (TF.js) or model.onnx (ONNX) in ${folder}`
        : `cannot read ${file}: ${messageOf(cause)}`
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
export const concatenate = (chunks: ReadonlyArray<Uint8Array>): ArrayBuffer => {
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
