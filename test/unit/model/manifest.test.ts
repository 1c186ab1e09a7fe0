// The artifact checks run before any model loads: weight paths inside the model, byte counts equal to
// what the manifest declares (quantized and string weights too), known dtypes, the size limit.
import { mkdir, mkdtemp, readFile, writeFile } from "node:fs/promises"
import { tmpdir } from "node:os"
import path from "node:path"
import { Effect } from "effect"
import fc from "fast-check"
import { beforeAll, describe, expect, it } from "vitest"
import { readModelFolder } from "../../../src/model/artifacts.js"
import { ModelLoadFailed } from "../../../src/model/errors.js"
import { loadModel } from "../../../src/model/loader.js"
import { ArtifactCheckFailed, checkModelFiles, unsafeWeightPath } from "../../../src/model/manifest.js"
import { initRuntime } from "../../../src/model/runtime.js"

const IRIS = path.resolve(import.meta.dirname, "../../../examples/iris/model")
const encoder = new TextEncoder()

interface Weight {
  readonly name: string
  readonly shape: ReadonlyArray<number>
  readonly dtype: string
  readonly quantization?: { readonly dtype: string; readonly scale?: number; readonly min?: number }
}

/** Files of a model whose manifest has the given groups (a trivial topology: only the manifest matters here). */
const modelFiles = (
  groups: ReadonlyArray<{ readonly paths: ReadonlyArray<string>; readonly weights: ReadonlyArray<Weight> }>,
  data: Record<string, Uint8Array>
) =>
  new Map<string, Uint8Array>([
    [
      "model.json",
      encoder.encode(JSON.stringify({ modelTopology: { class_name: "Sequential" }, weightsManifest: groups }))
    ],
    ...Object.entries(data)
  ])

const one = (weights: ReadonlyArray<Weight>, bytes: number, name = "weights.bin") =>
  modelFiles([{ paths: [name], weights }], { [name]: new Uint8Array(bytes) })

let iris: Map<string, Uint8Array>
let irisJson: Uint8Array

beforeAll(async () => {
  irisJson = new Uint8Array(await readFile(path.join(IRIS, "model.json")))
  iris = new Map([
    ["model.json", irisJson],
    ["weights.bin", new Uint8Array(await readFile(path.join(IRIS, "weights.bin")))]
  ])
})

describe("checkModelFiles", () => {
  it("accepts the Iris model as saved", () => {
    expect(checkModelFiles(iris)).toBeUndefined()
  })

  it("refuses a weight file longer or shorter than its manifest, saying both sizes (the 30 MB file pushed for a 524-byte model)", () => {
    const longer = new Map(iris).set("weights.bin", new Uint8Array(30 * 1024 * 1024))
    expect(checkModelFiles(longer)).toMatchObject({
      expected: "524 bytes",
      actual: "31457280 bytes",
      message: expect.stringMatching(
        /^weights\.bin does not hold what the manifest declares .*expected 524 bytes, received 31457280 bytes$/
      )
    })
    const shorter = new Map(iris).set("weights.bin", new Uint8Array(520))
    expect(checkModelFiles(shorter)).toMatchObject({ expected: "524 bytes", actual: "520 bytes" })
  })

  it("refuses weight paths that leave the model: ../, absolute, backslash, empty segments", () => {
    for (const bad of [
      "../outside.bin",
      "a/../../outside.bin",
      "/etc/passwd",
      "C:/x.bin",
      "a\\..\\b.bin",
      "a//b.bin",
      ""
    ]) {
      expect(unsafeWeightPath(bad)).toBeDefined()
      const problem = checkModelFiles(one([{ name: "w", shape: [1], dtype: "float32" }], 4, bad))
      expect(problem?.message).toContain(`weight path ${JSON.stringify(bad)}`)
    }
    expect(unsafeWeightPath("group1-shard1of2.bin")).toBeUndefined()
    expect(unsafeWeightPath("shards/./b.bin")).toBeUndefined()
  })

  it("refuses unknown dtypes and quantization, and quantized weights without scale or min", () => {
    expect(checkModelFiles(one([{ name: "w", shape: [2], dtype: "float64" }], 16))).toMatchObject({
      message: expect.stringContaining('has dtype "float64"'),
      actual: '"float64"'
    })
    const q = (quantization: NonNullable<Weight["quantization"]>) =>
      one([{ name: "w", shape: [3], dtype: "float32", quantization }], 3)
    expect(checkModelFiles(q({ dtype: "uint8", scale: 0.1, min: -1 }))).toBeUndefined()
    expect(checkModelFiles(q({ dtype: "uint4", scale: 0.1, min: -1 }))?.message).toContain("quantization dtype")
    expect(checkModelFiles(q({ dtype: "uint8" }))?.message).toContain("lacks scale or min")
    expect(
      checkModelFiles(one([{ name: "w", shape: [3], dtype: "float32", quantization: { dtype: "float16" } }], 6))
    ).toBeUndefined()
  })

  it("sizes string weights from their length prefixes and refuses ones that run past the end", () => {
    const strings = (values: ReadonlyArray<string>) => {
      const parts = values.flatMap((v) => {
        const bytes = encoder.encode(v)
        const length = new Uint8Array(4)
        new DataView(length.buffer).setUint32(0, bytes.byteLength, true)
        return [length, bytes]
      })
      return Uint8Array.from(parts.flatMap((p) => Array.from(p)))
    }
    const weights = [
      { name: "vocab", shape: [2], dtype: "string" },
      { name: "w", shape: [1], dtype: "float32" }
    ]
    const data = strings(["ab", "cde"])
    const ok = modelFiles([{ paths: ["w.bin"], weights }], { "w.bin": Uint8Array.from([...data, 0, 0, 0, 0]) })
    expect(checkModelFiles(ok)).toBeUndefined()
    const cut = modelFiles([{ paths: ["w.bin"], weights }], { "w.bin": data.subarray(0, 9) })
    expect(checkModelFiles(cut)?.message).toContain('string weight "vocab" runs past the end')
  })

  it("sums a group's shards, refuses files the manifest does not list, a path listed twice, and a missing file", () => {
    const weights = [{ name: "w", shape: [4, 4], dtype: "float32" }]
    const shards = modelFiles([{ paths: ["a.bin", "b.bin"], weights }], {
      "a.bin": new Uint8Array(40),
      "b.bin": new Uint8Array(24)
    })
    expect(checkModelFiles(shards)).toBeUndefined()
    expect(checkModelFiles(new Map(shards).set("extra.bin", new Uint8Array(1)))?.message).toContain("does not list")
    const twice = modelFiles([{ paths: ["a.bin", "a.bin"], weights }], { "a.bin": new Uint8Array(32) })
    expect(checkModelFiles(twice)?.message).toContain("listed twice")
    expect(checkModelFiles(new Map([...shards].filter(([n]) => n !== "b.bin")))?.message).toContain("b.bin is missing")
  })

  it("refuses more bytes than the limit, declared or present, and a malformed manifest naming the field", () => {
    expect(checkModelFiles(iris, { maxBytes: 1000 })).toMatchObject({ expected: "at most 1000 bytes" })
    const huge = one([{ name: "w", shape: [2 ** 40, 2 ** 40], dtype: "float32" }], 4)
    expect(checkModelFiles(huge)?.message).toContain("declares too many bytes")
    const malformed = checkModelFiles(one([{ name: "w", shape: [-1], dtype: "float32" }], 4))
    expect(malformed?.message).toMatch(
      /malformed weightsManifest.*weightsManifest\[0\]\.weights\[0\]\.shape\[0\]: Expected a value greater than or equal to 0/
    )
    const notJson = new Map(iris).set("model.json", encoder.encode("{"))
    expect(checkModelFiles(notJson)?.message).toContain("model.json is not valid JSON")
  })

  it("accepts exactly the declared size for random weights, and refuses any other size", () => {
    const bytesPer: Record<string, number> = { float32: 4, int32: 4, bool: 1, complex64: 8 }
    const weightArb = fc.record({
      name: fc.string({ maxLength: 8 }),
      shape: fc.array(fc.integer({ min: 0, max: 6 }), { maxLength: 3 }),
      dtype: fc.constantFrom("float32", "int32", "bool", "complex64")
    })
    fc.assert(
      fc.property(fc.array(weightArb, { maxLength: 4 }), fc.integer({ min: -8, max: 8 }), (weights, delta) => {
        const size = weights.reduce((n, w) => n + w.shape.reduce((a, b) => a * b, 1) * bytesPer[w.dtype]!, 0)
        expect(checkModelFiles(one(weights, size))).toBeUndefined()
        if (delta !== 0 && size + delta >= 0) expect(checkModelFiles(one(weights, size + delta))).toBeDefined()
      })
    )
  })
})

describe("reading and loading a folder", () => {
  const folderWith = async (manifestPath: string, weights: Uint8Array) => {
    const root = await mkdtemp(path.join(tmpdir(), "modelbus-manifest-"))
    const dir = path.join(root, "model")
    await mkdir(dir)
    const json = JSON.parse(new TextDecoder().decode(irisJson))
    json.weightsManifest[0].paths = [manifestPath]
    await writeFile(path.join(dir, "model.json"), JSON.stringify(json))
    await writeFile(path.join(dir, manifestPath), weights)
    return dir
  }

  it("never reads a weight path outside the folder: ../outside.bin is ArtifactCheckFailed, and ModelLoadFailed when loading", async () => {
    const dir = await folderWith("../outside.bin", iris.get("weights.bin")!)
    const error = await readModelFolder(dir).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(ArtifactCheckFailed)
    expect((error as ArtifactCheckFailed).message).toContain('weight path "../outside.bin" leaves the model folder')
    await Effect.runPromise(initRuntime())
    const failed = await Effect.runPromise(Effect.flip(loadModel(dir)))
    expect(failed).toBeInstanceOf(ModelLoadFailed)
    expect(failed.message).toContain("leaves the model folder")
  })

  it("refuses a weight file longer than the manifest before loading it, and one over the limit before reading it", async () => {
    const longer = new Uint8Array(524 + 4096)
    longer.set(iris.get("weights.bin")!)
    const dir = await folderWith("weights.bin", longer)
    const failed = await Effect.runPromise(Effect.flip(loadModel(dir)))
    expect(failed.message).toContain("expected 524 bytes, received 4620 bytes")
    const tooBig = await readModelFolder(IRIS, { maxBytes: 1024 }).catch((e: unknown) => e)
    expect(tooBig).toBeInstanceOf(ArtifactCheckFailed)
    expect((tooBig as ArtifactCheckFailed).problem).toMatchObject({ expected: "at most 1024 bytes" })
  })
})
