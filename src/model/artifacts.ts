// A model version's artifacts in memory: model.json and the weight files its manifest names, read
// from a folder and checked (paths, sizes, limit), and written back to a fresh temp folder.
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

/** File name (relative, `/`-separated, as the manifest spells it) → bytes; always holds `model.json`. */
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

/**
 * model.json and every weight file its manifest names, read from a folder and checked before
 * anyone loads them. Throws ArtifactCheckFailed (its message does not name the folder) for a path leaving the folder, a size the manifest
 * does not declare or files over the limit (sizes are checked before reading); an Error otherwise.
 */
/**
 * ArtifactCheckFailed when `name` in `folder` resolves (through symbolic links) to a file outside the
 * folder: the path check is by name, and a link named inside could read any file the process can.
 */
const refuseLinkOut = async (folder: string, name: string, file: string) => {
  const [real, realFolder] = await Promise.all([realpath(file).catch(() => file), realpath(folder)])
  const inside = path.relative(realFolder, real)
  if (inside.startsWith("..") || path.isAbsolute(inside)) {
    throw new ArtifactCheckFailed({
      message: `model file "${name}" is a symbolic link to a file outside the model folder: expected a file inside the folder, received a link leaving it`,
      expected: "a file inside the model folder",
      actual: "a symbolic link leaving the model folder"
    })
  }
}

export const readModelFolder = async (dir: string, limits: ArtifactLimits = {}): Promise<ModelFiles> => {
  const folder = path.resolve(dir)
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
  if (total > maxBytes) {
    throw new ArtifactCheckFailed({
      message: `the model's files are too large: expected at most ${maxBytes} bytes, received ${total} bytes`,
      expected: `at most ${maxBytes} bytes`,
      actual: `${total} bytes`
    })
  }
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
      const target = name === modelJsonFile ? path.join(dir, name) : weightPath(dir, name)
      await mkdir(path.dirname(target), { recursive: true })
      await writeFile(target, data)
    }
  } catch (cause) {
    await remove()
    throw cause
  }
  return { dir, remove }
}
