// What a model's files must hold before anything loads them: a model.json whose weights manifest
// decodes, plain relative weight paths, known dtypes, each group's exact byte count, a size limit (or an ONNX model's).
import * as Schema from "effect/Schema"
import { decoderOf } from "../protocol/schemaIssues.js"
import { isRecord, messageOf } from "../protocol/values.js"
import { checkOnnxFiles } from "./onnx/onnxArtifacts.js"
import { onnxModelFile } from "./onnx/onnxFile.js"

/** A model's artifacts larger than this are refused unless a caller sets its own limit (1 GiB). */
export const DEFAULT_MAX_ARTIFACT_BYTES = 1024 ** 3

/** Why a model's files cannot be loaded: what was expected and what arrived. */
export interface ArtifactProblem {
  readonly message: string
  readonly expected: string
  readonly actual: string
}

/** Thrown by folder readers for an ArtifactProblem, so callers can tell it from an unreadable folder. */
export class ArtifactCheckFailed extends Error {
  constructor(readonly problem: ArtifactProblem) {
    super(problem.message)
  }
}

const problem = (message: string, expected: string, actual: string): ArtifactProblem => ({
  message: `${message}: expected ${expected}, received ${actual}`,
  expected,
  actual
})

/** Bytes per stored value of each weight dtype (string weights are length-prefixed, see below). */
const valueBytes: Readonly<Record<string, number>> = { float32: 4, int32: 4, bool: 1, complex64: 8 }
const quantizedBytes: Readonly<Record<string, number>> = { uint8: 1, uint16: 2, float16: 2 }

const Dim = Schema.Int.check(Schema.isGreaterThanOrEqualTo(0))
const WeightEntry = Schema.Struct({
  name: Schema.String,
  shape: Schema.Array(Dim).check(Schema.isMaxLength(16)),
  dtype: Schema.String,
  quantization: Schema.optionalKey(
    Schema.Struct({
      dtype: Schema.String,
      scale: Schema.optionalKey(Schema.Finite),
      min: Schema.optionalKey(Schema.Finite)
    })
  )
})
type WeightEntry = typeof WeightEntry.Type
const WeightsManifest = Schema.Array(
  Schema.Struct({ paths: Schema.Array(Schema.String), weights: Schema.Array(WeightEntry) })
)
const decodeManifest = decoderOf(WeightsManifest, "weightsManifest")

/**
 * A weight path must be a plain relative name inside the model's folder or bundle: `/`-separated,
 * no empty or `..` segment, no backslash, drive letter or NUL. Returns why not, or undefined.
 */
export const unsafeWeightPath = (path: string): string | undefined => {
  if (path.length === 0 || path.length > 1024) return "is empty or longer than 1024 characters"
  if (path.startsWith("/") || /^[A-Za-z]:/.test(path) || path.includes("\\") || path.includes("\0")) {
    return "is absolute or holds a backslash or NUL"
  }
  if (path.split("/").some((s) => s === "" || s === "..")) return "leaves the model folder"
  return undefined
}

const product = (shape: ReadonlyArray<number>): number => shape.reduce((n, d) => n * d, 1)

/** The bytes a non-string weight takes, or why it has none (unknown dtype). */
const fixedBytes = (w: WeightEntry): number | string => {
  const q = w.quantization
  if (q !== undefined) {
    const size = quantizedBytes[q.dtype]
    if (size === undefined)
      return `weight "${w.name}" has quantization dtype ${JSON.stringify(q.dtype)}; known: uint8, uint16, float16`
    if (w.dtype !== "float32" && w.dtype !== "int32")
      return `quantized weight "${w.name}" has dtype ${JSON.stringify(w.dtype)}; expected float32 or int32`
    if (q.dtype !== "float16" && (q.scale === undefined || q.min === undefined))
      return `weight "${w.name}" quantized to ${q.dtype} lacks scale or min`
    return product(w.shape) * size
  }
  const size = valueBytes[w.dtype]
  if (size === undefined)
    return `weight "${w.name}" has dtype ${JSON.stringify(w.dtype)}; known: float32, int32, bool, complex64, string`
  return product(w.shape) * size
}

/** String weights: each value is a little-endian uint32 length and that many bytes; undefined if they overrun `end`. */
const stringBytes = (data: Uint8Array, start: number, count: number): number | undefined => {
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength)
  let at = start
  for (let i = 0; i < count; i++) {
    if (at + 4 > data.byteLength) return undefined
    at += 4 + view.getUint32(at, true)
    if (at > data.byteLength) return undefined
  }
  return at - start
}

const concat = (parts: ReadonlyArray<Uint8Array>): Uint8Array => {
  if (parts.length === 1) return parts[0]!
  const out = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0))
  let offset = 0
  for (const p of parts) {
    out.set(p, offset)
    offset += p.byteLength
  }
  return out
}

const weightsText = (weights: ReadonlyArray<WeightEntry>): string =>
  weights.length <= 3
    ? weights.map((w) => `${w.name} ${w.dtype}[${w.shape.join(",")}]`).join(", ")
    : `${weights.length} weights`

type Checked<A> = { readonly ok: true; readonly value: A } | { readonly ok: false; readonly problem: ArtifactProblem }
const fail = (message: string, expected: string, actual: string) =>
  ({ ok: false, problem: problem(message, expected, actual) }) as const

export type WeightGroups = ReadonlyArray<{
  readonly paths: ReadonlyArray<string>
  readonly weights: ReadonlyArray<WeightEntry>
}>

/**
 * The weight groups of a model.json (its bytes): the manifest decoded, each path a plain relative
 * name listed once. Sizes are checked by `checkModelFiles`, once the files are at hand.
 */
export const weightGroupsOf = (modelJson: Uint8Array | undefined): Checked<WeightGroups> => {
  if (modelJson === undefined) return fail("no model.json", "a model.json file", "none")
  let json: unknown
  try {
    json = JSON.parse(new TextDecoder().decode(modelJson))
  } catch (cause) {
    return fail("model.json is not valid JSON", "JSON", messageOf(cause))
  }
  if (!isRecord(json))
    return fail("model.json is not a JSON object", "a JSON object", Array.isArray(json) ? "an array" : typeof json)
  if (!isRecord(json.modelTopology))
    return fail("model.json has no modelTopology", "a modelTopology object", typeof json.modelTopology)
  const manifest = decodeManifest(json.weightsManifest ?? [])
  if (!manifest.ok)
    return fail("model.json has a malformed weightsManifest", "a list of {paths, weights}", manifest.reason)
  const seen = new Set<string>()
  for (const path of manifest.value.flatMap((g) => g.paths)) {
    const unsafe = unsafeWeightPath(path)
    if (unsafe !== undefined)
      return fail(
        `weight path ${JSON.stringify(path)} ${unsafe}`,
        "a relative path inside the model",
        JSON.stringify(path)
      )
    if (seen.has(path))
      return fail(`weight path ${JSON.stringify(path)} is listed twice`, "each weight file once", "a repeat")
    seen.add(path)
  }
  return { ok: true, value: manifest.value }
}

/** Bytes the group's weights need, reading string weights' length prefixes from `data`; or why they cannot. */
const groupBytes = (
  weights: ReadonlyArray<WeightEntry>,
  data: () => Uint8Array,
  where: string,
  maxBytes: number
): Checked<number> => {
  let need = 0
  for (const w of weights) {
    if (w.dtype === "string" && w.quantization === undefined) {
      const bytes = data()
      const size = stringBytes(bytes, need, product(w.shape))
      if (size === undefined)
        return fail(
          `${where}: string weight "${w.name}" runs past the end`,
          `${product(w.shape)} length-prefixed strings`,
          `${Math.max(0, bytes.byteLength - need)} bytes left`
        )
      need += size
    } else {
      const size = fixedBytes(w)
      if (typeof size === "string") return fail(`${where}: ${size}`, "a known dtype", JSON.stringify(w.dtype))
      need += size
    }
    if (need > maxBytes)
      return fail(
        `${where}: the manifest declares too many bytes`,
        `at most ${maxBytes} bytes`,
        `${need} bytes or more`
      )
  }
  return { ok: true, value: need }
}

export interface ArtifactLimits {
  /** Total bytes of every file, model.json included (default DEFAULT_MAX_ARTIFACT_BYTES). */
  readonly maxBytes?: number
}

/**
 * Checks a model's files (name → bytes: `model.json` and its weight files, or `model.onnx` alone)
 * before anything loads them; returns the first problem, or undefined. Files the manifest does not
 * list are refused too.
 */
export const checkModelFiles = (
  files: ReadonlyMap<string, Uint8Array>,
  limits: ArtifactLimits = {}
): ArtifactProblem | undefined => {
  const maxBytes = limits.maxBytes ?? DEFAULT_MAX_ARTIFACT_BYTES
  if (files.has(onnxModelFile)) {
    if (files.has("model.json")) {
      return problem("the model holds both model.json and model.onnx", "one of them", "both")
    }
    return checkOnnxFiles(files, maxBytes)
  }
  let total = 0
  for (const data of files.values()) total += data.byteLength
  if (total > maxBytes) return problem("the model's files are too large", `at most ${maxBytes} bytes`, `${total} bytes`)
  const groups = weightGroupsOf(files.get("model.json"))
  if (!groups.ok) return groups.problem
  const listed = new Set<string>(["model.json"])
  for (const group of groups.value) {
    const parts: Array<Uint8Array> = []
    for (const path of group.paths) {
      const data = files.get(path)
      if (data === undefined) return problem(`weight file ${path} is missing`, `a file ${path}`, "none")
      listed.add(path)
      parts.push(data)
    }
    const have = parts.reduce((n, p) => n + p.byteLength, 0)
    const where = group.paths.length === 1 ? group.paths[0]! : `weight files ${group.paths.join(", ")}`
    let joined: Uint8Array | undefined
    const need = groupBytes(group.weights, () => (joined ??= concat(parts)), where, maxBytes)
    if (!need.ok) return need.problem
    if (need.value !== have) {
      return problem(
        `${where} does not hold what the manifest declares (${weightsText(group.weights)})`,
        `${need.value} bytes`,
        `${have} bytes`
      )
    }
  }
  const unlisted = [...files.keys()].filter((name) => !listed.has(name))
  if (unlisted.length > 0) {
    return problem(
      "the model holds files its manifest does not list",
      "model.json and its weight files",
      unlisted.slice(0, 3).join(", ")
    )
  }
  return undefined
}
