// A model version's artifacts as one deterministic bundle (model.json and its weight files in a
// msgpack map sorted by name) and its sha256 digest; reading a model folder into a bundle.
import { createHash } from "node:crypto"
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises"
import { tmpdir } from "node:os"
import { dirname, join, normalize } from "node:path"
import { mkdir } from "node:fs/promises"
import { Packr } from "msgpackr"

export type ModelFiles = ReadonlyMap<string, Uint8Array>

const packr = new Packr({ useRecords: false, mapsAsObjects: true })

/** The bundle bytes: the same files always give the same bytes. */
export const encodeBundle = (files: ModelFiles): Uint8Array => {
  const sorted: Record<string, Uint8Array> = {}
  for (const name of [...files.keys()].sort()) sorted[name] = files.get(name)!
  return packr.pack({ files: sorted })
}

/** The files of a bundle, or undefined if the bytes are not one. */
export const decodeBundle = (bytes: Uint8Array): ModelFiles | undefined => {
  try {
    const value = packr.unpack(bytes) as { files?: Record<string, unknown> }
    if (typeof value?.files !== "object" || value.files === null) return undefined
    const files = new Map<string, Uint8Array>()
    for (const [name, data] of Object.entries(value.files)) {
      if (!(data instanceof Uint8Array)) return undefined
      files.set(name, data)
    }
    return files.has("model.json") ? files : undefined
  } catch {
    return undefined
  }
}

/** `sha256:<hex>` of the bytes. */
export const digestOf = (bytes: Uint8Array): string => `sha256:${createHash("sha256").update(bytes).digest("hex")}`

const safeName = (name: string) => {
  const n = normalize(name)
  if (n.startsWith("..") || n.startsWith("/")) throw new Error(`artifact path escapes the model folder: ${name}`)
  return n
}

/** model.json and every weight file its manifest names, read from a folder. */
export const readModelFolder = async (dir: string): Promise<ModelFiles> => {
  const modelJson = await readFile(join(dir, "model.json"))
  const manifest = (JSON.parse(modelJson.toString("utf8")) as { weightsManifest?: Array<{ paths?: Array<string> }> }).weightsManifest ?? []
  const files = new Map<string, Uint8Array>([["model.json", modelJson]])
  for (const group of manifest) {
    for (const path of group.paths ?? []) files.set(safeName(path), await readFile(join(dir, safeName(path))))
  }
  return files
}

/** Writes the files into a fresh temp folder (for the folder loader); `remove` deletes it. */
export const materialize = async (files: ModelFiles): Promise<{ readonly dir: string; readonly remove: () => Promise<void> }> => {
  const dir = await mkdtemp(join(tmpdir(), "modelbus-model-"))
  for (const [name, data] of files) {
    const target = join(dir, safeName(name))
    await mkdir(dirname(target), { recursive: true })
    await writeFile(target, data)
  }
  return { dir, remove: () => rm(dir, { recursive: true, force: true }) }
}
