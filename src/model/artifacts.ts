// A model version's artifacts in memory: model.json and the weight files its manifest names (or
// model.onnx alone), read from a folder and checked (paths, links, sizes, limit), and written back to a temp folder.
import { mkdir, mkdtemp, readFile, realpath, rm, stat, writeFile } from "node:fs/promises"
import { tmpdir } from "node:os"
import path from "node:path"
import { messageOf } from "../protocol/values.js"
import {
  ArtifactCheckFailed,
  type ArtifactLimits,
  checkModelFiles,
  DEFAULT_MAX_ARTIFACT_BYTES,
  weightGroupsOf
} from "./manifest.js"
import { modelJsonFile, readModelJsonFile, weightPath } from "./modelFolder.js"
import { onnxModelFile } from "./onnx/onnxFile.js"

/** File name (relative, `/`-separated, as the manifest spells it) → bytes; holds `model.json` or `model.onnx`. */
export type ModelFiles = ReadonlyMap<string, Uint8Array>

const sizeOf = async (file: string, folder: string): Promise<number> => {
  const info = await stat(file).catch((cause: unknown) => {
    const missing = (cause as { code?: unknown }).code === "ENOENT"
    throw new Error(
      missing
        ? `weight file ${file} listed in ${path.join(folder, modelJsonFile)} is missing`
        : `cannot read weight file ${file}: ${messageOf(cause)}`
    )
  })
  if (!info.isFile()) throw new Error(`weight file ${file} listed in ${path.join(folder, modelJsonFile)} is not a file`)
  return info.size
}

const tooLarge = (maxBytes: number, total: number) =>
  new ArtifactCheckFailed({
    message: `the model's files are too large: expected at most ${maxBytes} bytes, received ${total} bytes`,
    expected: `at most ${maxBytes} bytes`,
    actual: `${total} bytes`
  })

/**
 * ArtifactCheckFailed when `name` in `folder` resolves (through symbolic links) to a file outside the
 * folder: the path check is by name, and a link named inside could read any file the process can.
 */
const refuseLinkOut = async (folder: string, name: string, file: string) => {
  const [real, realFolder] = await Promise.all([realpath(file).catch(() => file), realpath(folder).catch(() => folder)])
  const inside = path.relative(realFolder, real)
  if (inside.startsWith("..") || path.isAbsolute(inside)) {
    throw new ArtifactCheckFailed({
      message: `model file "${name}" is a symbolic link to a file outside the model folder: expected a file inside the folder, received a link leaving it`,
      expected: "a file inside the model folder",
      actual: "a symbolic link leaving the model folder"
    })
  }
}

/** The folder's model.onnx when it has one (its size checked before reading); undefined when it has none. */
const readOnnxFolder = async (folder: string, limits: ArtifactLimits): Promise<ModelFiles | undefined> => {
  const file = path.join(folder, onnxModelFile)
  const info = await stat(file).catch(() => undefined)
  if (info === undefined) return undefined
  if (!info.isFile()) throw new Error(`${file} is not a file`)
  const json = await stat(path.join(folder, modelJsonFile)).catch(() => undefined)
  if (json !== undefined) {
    throw new Error(`${folder} holds both ${modelJsonFile} and ${onnxModelFile}; a model folder holds one of them`)
  }
  await refuseLinkOut(folder, onnxModelFile, file)
  const maxBytes = limits.maxBytes ?? DEFAULT_MAX_ARTIFACT_BYTES
  if (info.size > maxBytes) throw tooLarge(maxBytes, info.size)
  const read = new Map<string, Uint8Array>([[onnxModelFile, await readFile(file)]])
  const problem = checkModelFiles(read, limits)
  if (problem !== undefined) throw new ArtifactCheckFailed(problem)
  return read
}

/**
 * A model folder's files, read and checked before anyone loads them: model.onnx alone, or model.json
 * and every weight file its manifest names. Throws ArtifactCheckFailed (its message does not name the
 * folder) for a path leaving the folder, a size the manifest does not declare, files over the limit
 * (sizes are checked before reading) or an unreadable ONNX model; an Error otherwise.
 */
export const readModelFolder = async (dir: string, limits: ArtifactLimits = {}): Promise<ModelFiles> => {
  const folder = path.resolve(dir)
  const onnx = await readOnnxFolder(folder, limits)
  if (onnx !== undefined) return onnx
  await refuseLinkOut(folder, modelJsonFile, path.join(folder, modelJsonFile))
  const { bytes } = await readModelJsonFile(folder)
  const groups = weightGroupsOf(bytes)
  if (!groups.ok) throw new ArtifactCheckFailed(groups.problem)
  const maxBytes = limits.maxBytes ?? DEFAULT_MAX_ARTIFACT_BYTES
  const names = groups.value.flatMap((g) => g.paths)
  const files = names.map((name) => ({ name, file: weightPath(folder, name) }))
  for (const { name, file } of files) await refuseLinkOut(folder, name, file)
  let total = bytes.byteLength
  for (const { file } of files) total += await sizeOf(file, folder)
  if (total > maxBytes) throw tooLarge(maxBytes, total)
  const read = new Map<string, Uint8Array>([[modelJsonFile, bytes]])
  for (const { name, file } of files) read.set(name, await readFile(file))
  const problem = checkModelFiles(read, limits)
  if (problem !== undefined) throw new ArtifactCheckFailed(problem)
  return read
}

/** A temp folder holding a model's files; `remove` deletes it. */
export interface MaterializedModel {
  readonly dir: string
  readonly remove: () => Promise<void>
}

/** Writes the files into a fresh temp folder (for the folder loader); a name leaving it is refused. */
export const materialize = async (files: ModelFiles): Promise<MaterializedModel> => {
  const dir = await mkdtemp(path.join(tmpdir(), "modelbus-model-"))
  const remove = () => rm(dir, { recursive: true, force: true })
  try {
    for (const [name, data] of files) {
      const target = name === modelJsonFile || name === onnxModelFile ? path.join(dir, name) : weightPath(dir, name)
      await mkdir(path.dirname(target), { recursive: true })
      await writeFile(target, data)
    }
  } catch (cause) {
    await remove()
    throw cause
  }
  return { dir, remove }
}
