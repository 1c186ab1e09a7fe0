// A model version's artifacts as one deterministic bundle (model.json and its weight files in a
// msgpack map sorted by name) and the bundle's sha256 digest.
import { createHash } from "node:crypto"
import { Packr } from "msgpackr"
import type { ModelFiles } from "../model/artifacts.js"
import { isRecord } from "../protocol/values.js"

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
    const value: unknown = packr.unpack(bytes)
    if (!isRecord(value) || !isRecord(value.files)) return undefined
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
