// The per-model ONNX Runtime key of the config: `onnx: { intraOpNumThreads }` decoded and bounded,
// carried into the model's config (the supervisor hands it to each replica's settings).
import { Effect } from "effect"
import { describe, expect, it } from "vitest"
import { decodeConfig } from "../../../src/supervisor/config.js"

const decode = (model: object) =>
  Effect.runPromise(
    Effect.result(decodeConfig({ models: [{ name: "m", path: "./m", ...model }] }, "/etc/modelbus.yaml"))
  )

describe("config: onnx", () => {
  it("takes intraOpNumThreads per model and leaves it out when not given", async () => {
    const given = await decode({ onnx: { intraOpNumThreads: 4 } })
    expect(given._tag).toBe("Success")
    if (given._tag === "Success") expect(given.success.models[0]!.onnx).toEqual({ intraOpNumThreads: 4 })
    const absent = await decode({})
    if (absent._tag === "Success") expect(absent.success.models[0]!.onnx).toBeUndefined()
  })

  it("refuses 0, fractions, more than 64 threads and unknown keys, naming the key's path", async () => {
    for (const onnx of [
      { intraOpNumThreads: 0 },
      { intraOpNumThreads: 1.5 },
      { intraOpNumThreads: 65 },
      { threads: 2 }
    ]) {
      const result = await decode({ onnx })
      expect(result._tag).toBe("Failure")
      if (result._tag === "Failure") expect(result.failure.message).toContain('["onnx"]')
    }
  })
})
