// Batch progress and output files: a bar redrawn in place on a terminal, one line per tenth elsewhere;
// outputs in input order with failed rows null (.jsonl) or NaN (.npy), failures listed by row.
import { describe, expect, it } from "vitest"
import { errorLines, jsonlLines, stackedOutput } from "../../../src/cli/batchOutput.js"
import { batchProgress, batchText, durationText } from "../../../src/cli/progress.js"
import type { RowResult } from "../../../src/client/batch.js"
import type { HostTensor } from "../../../src/protocol/tensor.js"

describe("batchProgress", () => {
  it("writes one line per tenth off a terminal, never the same tenth twice", () => {
    const lines: Array<string> = []
    const report = batchProgress(false, (t) => lines.push(t))
    for (let done = 0; done <= 1000; done += 37) report(done, 1000, 500)
    report(1000, 1000, 500)
    report(1000, 1000, 500)
    expect(lines).toHaveLength(11)
    expect(lines.every((l) => l.endsWith("\n") && !l.includes("\r"))).toBe(true)
    expect(lines[10]).toBe("100%  1000/1000 rows  500 rows/s  ETA 0s\n")
  })

  it("redraws a bar in place on a terminal and ends the line when done", () => {
    const out: Array<string> = []
    const report = batchProgress(true, (t) => out.push(t))
    report(250, 1000, 50)
    report(1000, 1000, 50)
    expect(out[0]).toBe(`\r[######..................] 25%  250/1000 rows  50 rows/s  ETA 15s`)
    expect(out[1]!.endsWith("\n")).toBe(true)
  })

  it("says ? for the time left before any rate is known", () => {
    expect(batchText(0, 10, 0, false)).toBe("0%  0/10 rows  0 rows/s  ETA ?")
    expect(durationText(3725)).toBe("1h02m")
    expect(durationText(125)).toBe("2m05s")
  })
})

describe("batch output", () => {
  const outputs: HostTensor = { dtype: "float32", shape: [2, 2], data: Float32Array.from([1, 2, 3, 4]) }
  const rows: Array<RowResult> = [
    { kind: "ok", outputs, at: 1 },
    { kind: "failed", failure: { row: 1, error: { _tag: "BadInput", message: "bad" } } },
    { kind: "ok", outputs, at: 0 }
  ]
  it("writes .jsonl lines in input order, null for a failed row", () => {
    expect(jsonlLines(rows)).toBe("[3,4]\nnull\n[1,2]\n")
  })
  it("stacks one output for .npy, NaN for a failed row", () => {
    const t = stackedOutput("o.npy", rows) as HostTensor
    expect(t.shape).toEqual([3, 2])
    expect(Array.from(t.data as Float32Array)).toEqual([3, 4, Number.NaN, Number.NaN, 1, 2])
  })
  it("lists the failures by row", () => {
    expect(errorLines(rows)).toBe('{"row":1,"error":{"_tag":"BadInput","message":"bad"}}\n')
  })
})
