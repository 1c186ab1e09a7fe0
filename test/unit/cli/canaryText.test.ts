// The --guard grammar (pure): thresholds, minimum samples and window read from key=value pairs; each wrong
// part named with what was expected; and the guard written back the way it is read.
import { describe, expect, it } from "vitest"
import { guardText, parseGuard } from "../../../src/cli/canaryText.js"

describe("parseGuard", () => {
  it("reads every threshold, the minimum samples and the window (s, m, ms or plain ms)", () => {
    expect(parseGuard("min-agreement=0.95,max-error-rate=0.01,max-p99-ratio=1.5,min-samples=50,window=30s")).toEqual({
      minAgreement: 0.95,
      maxErrorRate: 0.01,
      maxP99Ratio: 1.5,
      minSamples: 50,
      windowMs: 30_000
    })
    expect(parseGuard("min-agreement=0.9, window=2m")).toEqual({ minAgreement: 0.9, windowMs: 120_000 })
    expect(parseGuard("min-agreement=0.9,window=1500")).toEqual({ minAgreement: 0.9, windowMs: 1500 })
  })

  it("names the part that is wrong and what it expects", () => {
    expect(parseGuard("min-agreement=high")).toBe('--guard min-agreement: expected a number, received "high"')
    expect(parseGuard("min-samples=0")).toMatch(/^--guard min-samples: expected a whole number of at least 1/)
    expect(parseGuard("window=500ms")).toMatch(/^--guard window: expected a duration of at least 1s/)
    expect(parseGuard("agreement=0.9")).toMatch(/^--guard: unknown threshold "agreement"; expected key=value pairs of/)
  })

  it("is written back as it reads", () => {
    expect(guardText({ minAgreement: 0.9, maxP99Ratio: 2, minSamples: 100, windowMs: 60_000 })).toBe(
      "min-agreement=0.9, max-p99-ratio=2 over 60 s (min 100 samples)"
    )
  })
})
