// The start-time bench's arithmetic (pure): interpolated quantiles and the summary of one case and
// build, whatever order its samples came in.
import { describe, expect, it } from "vitest"
import { summarize } from "../../../bench/lib/cliStart.js"
import { quantile } from "../../../bench/lib/stats.js"

describe("start figures", () => {
  it("interpolates quantiles and summarizes samples in any order", () => {
    expect(quantile([1, 2, 3, 4], 0.5)).toBe(2.5)
    expect(quantile([10], 0.25)).toBe(10)
    expect(Number.isNaN(quantile([], 0.5))).toBe(true)
    expect(summarize("--help", "this build", [300, 100, 200])).toMatchObject({
      medianMs: 200,
      minMs: 100,
      maxMs: 300,
      p25Ms: 150,
      p75Ms: 250
    })
  })
})
