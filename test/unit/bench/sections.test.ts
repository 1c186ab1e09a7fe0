// BENCHMARKS.md sections: a separate bench replaces its own section and keeps the rest; a full run
// rewrites the main report and keeps every section the old file had.
import { describe, expect, it } from "vitest"
import { keepSections, replaceSection, sectionsOf } from "../../../bench/lib/sections.js"

describe("BENCHMARKS.md sections", () => {
  it("appends a section that is not there yet, then replaces it in place", () => {
    const once = replaceSection("# Benchmarks\n\nmain report\n", "cli", "## CLI\n\n1 s")
    expect(once).toBe("# Benchmarks\n\nmain report\n\n<!-- bench:cli -->\n## CLI\n\n1 s\n<!-- /bench:cli -->\n")
    const twice = replaceSection(`${once}\nafter\n`, "cli", "## CLI\n\n$& 0.3 s")
    expect(twice).toContain("<!-- bench:cli -->\n## CLI\n\n$& 0.3 s\n<!-- /bench:cli -->\n")
    expect(twice).not.toContain("1 s")
    expect(twice.indexOf("main report")).toBeLessThan(twice.indexOf("bench:cli"))
    expect(twice.trimEnd().endsWith("after")).toBe(true)
  })

  it("keeps other sections when one is replaced, and every section under a new main report", () => {
    const old = replaceSection(replaceSection("# old main\n", "a", "A1"), "b", "B1")
    const replaced = replaceSection(old, "a", "A2")
    expect(sectionsOf(replaced).map((s) => s.id)).toEqual(["a", "b"])
    expect(replaced).toContain("B1")
    const rewritten = keepSections("# new main\n", replaced)
    expect(rewritten.startsWith("# new main\n")).toBe(true)
    expect(rewritten).not.toContain("old main")
    expect(sectionsOf(rewritten).map((s) => s.text)).toEqual(sectionsOf(replaced).map((s) => s.text))
  })
})
