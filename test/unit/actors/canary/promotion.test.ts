// Promotion on a replica: the version published with the candidate's artifacts takes the loaded candidate
// (no second load), whether it arrives while the canary runs or after it ended as promoted; anything else
// disposes a held candidate; replaced models are disposed once idle, never while a request holds them.
import { describe, expect, it } from "vitest"
import { makeLiveCanary } from "../../../../src/actors/canary/live.js"
import { adoptCandidate, holdForPromotion } from "../../../../src/actors/canary/promotion.js"
import { acquire, release, servingModel, servingVersion } from "../../../../src/actors/servingModel.js"
import type { LoadedModel } from "../../../../src/model/loader.js"
import { canaryState } from "./state.js"

const model = () => {
  const m = {
    disposed: 0,
    signature: { format: "layers", inputs: [], outputs: [] },
    predict: async () => ({}),
    dispose: () => void m.disposed++
  }
  return m as unknown as LoadedModel & { disposed: number }
}

const DIGEST = `sha256:${"0".repeat(64)}`
const OTHER = `sha256:${"1".repeat(64)}`

const withCanary = () => {
  const stable = model()
  const candidateModel = model()
  const serving = servingModel(stable, 1)
  const candidate = servingVersion(candidateModel, 2, true)
  const canary = makeLiveCanary(canaryState({ percent: 50 }), candidate, () => {})
  serving.canary = canary
  return { serving, stable, candidateModel, candidate, canary }
}

describe("adoptCandidate", () => {
  it("makes the running canary's candidate current under the published number, ending the canary", () => {
    const { serving, stable, candidateModel, candidate } = withCanary()
    const held = acquire(serving, 0.9)
    expect(adoptCandidate(serving, DIGEST, 2)).toBe(true)
    expect(serving.current).toBe(candidate)
    expect(serving.current).toMatchObject({ version: 2, candidate: false })
    expect(serving.canary).toBeUndefined()
    expect(serving.loads).toBe(1)
    expect(stable.disposed).toBe(0)
    release(held)
    expect(stable.disposed).toBe(1)
    expect(candidateModel.disposed).toBe(0)
  })

  it("takes a candidate held after the canary ended as promoted, under a new number", () => {
    const { serving, candidate, canary } = withCanary()
    serving.canary = undefined
    holdForPromotion(serving, canary)
    expect(adoptCandidate(serving, DIGEST, 5)).toBe(true)
    expect(serving.current).toBe(candidate)
    expect(serving.current.version).toBe(5)
  })

  it("leaves a version with other artifacts to be loaded, and disposes a held candidate it does not take", () => {
    const { serving, candidateModel, canary } = withCanary()
    serving.canary = undefined
    holdForPromotion(serving, canary)
    expect(adoptCandidate(serving, OTHER, 2)).toBe(false)
    expect(candidateModel.disposed).toBe(1)
    expect(adoptCandidate(serving, DIGEST, 3)).toBe(false)
  })
})
