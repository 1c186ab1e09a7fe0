// A model version's artifacts in memory: model.json and the weight files its manifest names, read
// from a folder (paths kept inside it), and written back to a fresh temp folder for the loader.
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises"
import { tmpdir } from "node:os"
import path from "node:path"
import { manifestPaths, modelJsonFile, readModelJsonFile, weightPath } from "./files.js"

/** File name (relative, `/`-separated) → bytes; always holds `model.json`. */
export type ModelFiles = ReadonlyMap<string, Uint8Array>

/** model.json and every weight file its manifest names, read from a folder. */
export const readModelFolder = async (dir: string): Promise<ModelFiles> => {
  const folder = path.resolve(dir)
  const { json, bytes } = await readModelJsonFile(folder)
  const files = new Map<string, Uint8Array>([[modelJsonFile, bytes]])
  for (const relative of manifestPaths(json.weightsManifest)) {
    const file = weightPath(folder, relative)
    files.set(path.relative(folder, file).split(path.sep).join("/"), await readFile(file))
  }
  return files
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
