// A registry entry someone wrote into the KV bucket, decoded: a ModelVersion, or why it is not one
// (too large, not JSON, a field of the wrong kind); never a cast of what arrived.
import type { Decoded } from "../protocol/schemaIssues.js"
import { messageOf } from "../protocol/values.js"
import { decodeModelVersion, type ModelVersion } from "./versions.js"

/** A KV entry someone wrote, as a ModelVersion, or why it is not one (too large, not JSON, a wrong field). */
export const parseEntry = (model: string, revision: number, value: Uint8Array): Decoded<ModelVersion> => {
  const where = `registry entry ${model} (revision ${revision})`
  if (value.byteLength > MAX_ENTRY_BYTES) {
    return { ok: false, reason: `${where} is ${value.byteLength} bytes; a model version is at most ${MAX_ENTRY_BYTES}` }
  }
  let json: unknown
  try {
    json = JSON.parse(new TextDecoder().decode(value))
  } catch (cause) {
    return { ok: false, reason: `${where} is not JSON: ${messageOf(cause)}` }
  }
  const decoded = decodeModelVersion(json)
  return decoded.ok ? decoded : { ok: false, reason: `${where} is not a model version: ${decoded.reason}` }
}

/** KV entries larger than this are not model versions (a signature of 1024 inputs fits well within it). */
const MAX_ENTRY_BYTES = 256 * 1024
