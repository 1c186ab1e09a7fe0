// The batch-job wire contract's pure parts: names from the prefix, job ids as subject tokens, chunk ids,
// stream sequences kept as ranges.
import { describe, expect, it } from "vitest"
import {
  batchConsumer,
  batchNames,
  batchSubjects,
  chunkMsgId,
  isJobId,
  newJobId,
  seqRanges
} from "../../../src/protocol/batch.js"

describe("batch wire names", () => {
  it("derives streams, bucket and subjects from the prefix", () => {
    expect(batchNames("acme.ml")).toEqual({
      work: "acme_ml_batch_work",
      results: "acme_ml_batch_results",
      jobs: "acme_ml_batch_jobs",
      data: "acme_ml_batch_data"
    })
    const s = batchSubjects("modelbus")
    expect(s.work("iris", "j1")).toBe("modelbus.batch.work.iris.j1")
    expect(s.modelWork("iris")).toBe("modelbus.batch.work.iris.>")
    expect(s.result("j1", 7)).toBe("modelbus.batch.result.j1.7")
    expect(s.started("iris")).toBe("modelbus.events.iris.batch")
    expect(batchConsumer("iris")).toBe("batch_iris")
    expect(chunkMsgId("j1", 7)).toBe("j1.7")
  })

  it("makes job ids that are subject tokens and KV keys, ordered by time", () => {
    const a = newJobId(1_000_000_000_000)
    const b = newJobId(1_000_000_000_001)
    expect(isJobId(a)).toBe(true)
    expect(a.slice(0, 8) < b.slice(0, 8)).toBe(true)
    expect(isJobId("a.b")).toBe(false)
  })

  it("keeps stream sequences as ranges of consecutive ones", () => {
    expect(seqRanges([5, 3, 4, 9, 10, 12])).toEqual([
      [3, 5],
      [9, 10],
      [12, 12]
    ])
    expect(seqRanges([])).toEqual([])
  })
})
