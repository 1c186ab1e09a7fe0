// `--fit FILE` decoded with protocol/fit's FitRequest: a good body comes through unchanged, a bad
// one is a BadInput naming the file, the shape expected and what arrived where.
import { Effect, Exit } from "effect"
import { describe, expect, it } from "vitest"
import { decodeFitFile, withNpyArrays } from "../../../src/cli/fitFile.js"
import { encodeNpy } from "../../../src/datasets/npy.js"
import { BadInput } from "../../../src/protocol/errors.js"

const failureOf = (text: string) => {
  const exit = Effect.runSyncExit(Effect.flip(decodeFitFile("train.json", text)))
  if (Exit.isFailure(exit)) throw new Error("decodeFitFile succeeded")
  return exit.value
}

describe("decodeFitFile", () => {
  it("passes a valid body through, options included", () => {
    const body = {
      x: [[1, 2, 3, 4]],
      y: [[0, 1, 0]],
      epochs: 3,
      batchSize: 8,
      loss: "meanSquaredError",
      learningRate: 0.1
    }
    expect(Effect.runSync(decodeFitFile("train.json", JSON.stringify(body)))).toEqual(body)
  })

  it("says the file is not JSON, with the parser's reason", () => {
    const error = failureOf('{"x": [[1, 2,')
    expect(error).toBeInstanceOf(BadInput)
    expect(error.message).toMatch(
      /^--fit train\.json: expected a JSON object \{"x": inputs, "y": targets, .*\}; not valid JSON: /
    )
  })

  it("describes a top-level value that is not an object", () => {
    expect(failureOf("[1, 2, 3]").message).toMatch(/; the file: Expected object, received an array of 3$/)
  })

  it("names each bad field with what arrived there, and a missing one as missing", () => {
    const { message } = failureOf('{"x": [[1]], "epochs": "3", "batchSize": 0}')
    expect(message).toContain('epochs: Expected number, received the string "3"')
    expect(message).toContain("batchSize: Expected a value greater than or equal to 1, received number 0")
    expect(message).toContain("y: missing")
    expect(message).toMatch(/^--fit train\.json: expected a JSON object/)
  })

  it("rejects a key FitRequest does not have (a typo would otherwise be ignored)", () => {
    expect(failureOf('{"x": [[1]], "y": [[1]], "epoch": 5}').message).toMatch(
      /; epoch: Expected no excess property, received number 5$/
    )
  })
})

describe("withNpyArrays", () => {
  const x = encodeNpy({ dtype: "float32", shape: [2, 4], data: Float32Array.from([1, 2, 3, 4, 5, 6, 7, 8]) })
  const files: Record<string, Uint8Array> = { "/data/x.npy": x }
  const read = async (path: string) => {
    const bytes = files[path]
    if (bytes === undefined) throw new Error("ENOENT: no such file")
    return bytes
  }
  const run = (body: object) => Effect.runPromiseExit(withNpyArrays("/data/train.json", body as never, read))

  it("reads x named as a .npy file beside the JSON file, keeping y and the options", async () => {
    const exit = await run({ x: "x.npy", y: [[0, 1, 0]], epochs: 2 })
    if (Exit.isFailure(exit)) throw new Error("failed")
    expect(exit.value).toMatchObject({ x: { dtype: "float32", shape: [2, 4] }, y: [[0, 1, 0]], epochs: 2 })
  })

  it("names the field and the file it could not read", async () => {
    const exit = await run({ x: "x.npy", y: "missing.npy" })
    const error = Exit.isFailure(exit) ? Exit.findErrorOption(exit) : undefined
    expect(error?._tag === "Some" && error.value).toBeInstanceOf(BadInput)
    expect(error?._tag === "Some" ? error.value.message : "").toBe(
      "--fit /data/train.json: y: cannot read /data/missing.npy: ENOENT: no such file"
    )
  })

  it("refuses a string that is not a .npy file name", async () => {
    const exit = await run({ x: "x.csv", y: [[1]] })
    const error = Exit.isFailure(exit) ? Exit.findErrorOption(exit) : undefined
    expect(error?._tag === "Some" ? error.value.message : "").toBe(
      '--fit /data/train.json: x: a string names a .npy file, received "x.csv"'
    )
  })
})
