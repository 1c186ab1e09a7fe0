// A model version's artifacts as one deterministic bundle (model.json and its weight files, or
// model.onnx, in a msgpack map sorted by name) and the bundle's sha256 digest.
import { createHash } from "node:crypto"
import * as Schema from "effect/Schema"
import { Packr } from "msgpackr"
import type { ModelFiles } from "../model/artifacts.js"
import { type Decoded, decoderOf } from "../protocol/schemaIssues.js"
import { messageOf } from "../protocol/values.js"

// Plain maps and bins only; no records, typed-array or structured-clone extensions from a bundle someone else wrote.
const packr = new Packr({ useRecords: false, mapsAsObjects: true, moreTypes: false, structuredClone: false })

/** A bundle: file name → bytes, model.json or model.onnx among them (names and sizes are checked before loading). */
const Bundle = Schema.Struct({
  files: Schema.Record(Schema.String, Schema.Uint8Array).check(
    Schema.makeFilter(
      (files) =>
        Object.hasOwn(files, "model.json") || Object.hasOwn(files, "model.onnx") || "a model.json or model.onnx file"
    )
  )
})
const decodeBundleValue = decoderOf(Bundle, "bundle")

/** The bundle bytes: the same files always give the same bytes. */
export const encodeBundle = (files: ModelFiles): Uint8Array => {
  const sorted: Record<string, Uint8Array> = {}
  for (const name of [...files.keys()].sort()) sorted[name] = files.get(name)!
  return packr.pack({ files: sorted })
}

/** The files of a bundle, or why the bytes are not one (`{files: {name: bytes}}` with a model.json or model.onnx). */
export const decodeBundle = (bytes: Uint8Array): Decoded<ModelFiles> => {
  let value: unknown
  try {
    value = packr.unpack(bytes)
  } catch (cause) {
    return { ok: false, reason: `bundle is not msgpack: ${messageOf(cause)}` }
  }
  const decoded = decodeBundleValue(value)
  return decoded.ok ? { ok: true, value: new Map(Object.entries(decoded.value.files)) } : decoded
}

/** `sha256:<hex>` of the bytes. */
export const digestOf = (bytes: Uint8Array): string => `sha256:${createHash("sha256").update(bytes).digest("hex")}`
