// The start-time bench's arithmetic and its BENCHMARKS.md section (pure): quantiles, the A B / B A
// order of builds, and replacing or inserting the "CLI start" section without touching the others.
import { describe, expect, it } from "vitest"
import { quantile, roundOrder, summarize, withSection } from "../../../bench/lib/cliStart.js"

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

  it("alternates the order of the builds between rounds", () => {
    expect([0, 1, 2, 3].map((round) => roundOrder(["A", "B"], round).join(""))).toEqual(["AB", "BA", "AB", "BA"])
  })
})

describe("withSection", () => {
  const doc = "# Benchmarks\n\n## Results\n\nrows\n\n## Targets (issue 5)\n\ntable\n"

  it("inserts the section before Targets when there is none", () => {
    expect(withSection(doc, "## CLI start", "## CLI start\n\nnew\n")).toBe(
      "# Benchmarks\n\n## Results\n\nrows\n\n## CLI start\n\nnew\n\n## Targets (issue 5)\n\ntable\n"
    )
  })

  it("replaces the section it has, up to the next heading, and only that", () => {
    const once = withSection(doc, "## CLI start", "## CLI start\n\nold\n")
    const twice = withSection(once, "## CLI start", "## CLI start\n\nnew\n")
    expect(twice).toBe(withSection(doc, "## CLI start", "## CLI start\n\nnew\n"))
    const last = withSection("# B\n\n## CLI start\n\nold\n", "## CLI start", "## CLI start\n\nnew")
    expect(last).toBe("# B\n\n## CLI start\n\nnew\n")
  })

  it("appends it when there is no Targets heading either", () => {
    expect(withSection("# B\n", "## CLI start", "## CLI start\n\nnew")).toBe("# B\n\n## CLI start\n\nnew\n")
  })
})
