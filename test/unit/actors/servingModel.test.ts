// The atomic model swap: requests finish on the version they started on; a replaced version is
// disposed exactly once, when its last request is answered.
import { describe, expect, it } from "vitest"
import { acquire, release, servingModel, swapIn } from "../../../src/actors/servingModel.js"
import type { LoadedModel } from "../../../src/model/loader.js"

const fakeModel = () => {
  const model = {
    disposed: 0,
    signature: { format: "layers", inputs: [], outputs: [] },
    predict: async () => ({}),
    dispose: () => void model.disposed++
  }
  return model as unknown as LoadedModel & { disposed: number }
}

describe("servingModel", () => {
  it("swaps at once for new requests and disposes the old version after its in-flight requests", () => {
    const v1 = fakeModel()
    const v2 = fakeModel()
    const serving = servingModel(v1, 1)
    const running = acquire(serving)
    swapIn(serving, v2, 2)
    expect(serving.current.version).toBe(2)
    expect(serving.loads).toBe(2)
    expect(acquire(serving).model).toBe(v2)
    expect(v1.disposed).toBe(0)
    release(running)
    expect(v1.disposed).toBe(1)
    expect(v2.disposed).toBe(0)
  })

  it("disposes an idle replaced version immediately, once", () => {
    const v1 = fakeModel()
    const serving = servingModel(v1, 1)
    swapIn(serving, fakeModel(), 2)
    expect(v1.disposed).toBe(1)
  })
})
