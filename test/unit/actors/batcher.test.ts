// Batching through the model loop on a fake model: requests queued together run as one stacked call and
// are answered with their own rows, on the version they were admitted on; a model that ignores the batch
// falls back to one call each; late requests are refused unrun; a failing model fails each request.
import { describe, expect, it } from "vitest"
import { canShareCall, initialBatchLimit, type Job, makeBatcher } from "../../../src/actors/batcher.js"
import { servingModel, swapIn } from "../../../src/actors/servingModel.js"
import { actorStats } from "../../../src/actors/stats.js"
import type { HostTensor } from "../../../src/protocol/tensor.js"
import { type FakeMsg, fakeHotPath, fakeModel, fakeMsg, rowSums, xRows } from "./fakes.js"

type Predict = Parameters<typeof fakeModel>[0]

/** The hot path over a fake model, batching at most `maxBatchSize` rows per call. */
const setup = (predict: Predict, maxBatchSize = 32) =>
  fakeHotPath(predict, { batching: { maxBatchSize, maxDelayMs: 0 } })

/** The y values of the one answer a request got, or its error tag and status code. */
const answerOf = (fake: FakeMsg) => {
  expect(fake.answers).toHaveLength(1)
  const { reply, code } = fake.answers[0]!
  if (reply.kind === "reply") {
    expect(reply.reply.version).toBe(7)
    return Array.from((reply.reply.outputs as HostTensor).data as Float32Array)
  }
  return reply.kind === "error" ? { error: reply.error._tag, code } : { malformed: reply.reason }
}

describe("makeBatcher", () => {
  it("stacks requests that arrive together into one call and answers each with its own rows", async () => {
    const b = setup(async (inputs) => rowSums(inputs))
    const done = b.idle()
    const first = b.submit(xRows(1, 1))
    const second = b.submit(xRows(3, 2))
    const third = b.submit(xRows(2, 5))
    expect(b.admission.inflight()).toBe(3)
    await done
    expect(b.calls).toEqual([6])
    expect(answerOf(first)).toEqual([2])
    expect(answerOf(second)).toEqual([4, 15, 26])
    expect(answerOf(third)).toEqual([10, 21])
    expect(b.stats).toMatchObject({ served: 3, errors: 0, calls: 1, lastError: undefined })
  })

  it("adds each answered request's time from arrival to reply to processingMs (queue wait included)", async () => {
    const b = setup(async (inputs) => rowSums(inputs))
    const done = b.idle()
    const before = performance.now()
    b.submit(xRows(1))
    b.submit(xRows(1), { arrived: before - 50 })
    await done
    const elapsed = performance.now() - before
    // the second request arrived 50 ms before it was submitted: its time counts from then
    expect(b.stats.processingMs).toBeGreaterThan(50)
    expect(b.stats.processingMs).toBeLessThanOrEqual(2 * elapsed + 50)
  })

  it("batches only requests that can share a call, oldest first, the others keeping their order", async () => {
    const b = setup(async (inputs) => rowSums(inputs))
    const done = b.idle()
    const fakes = [
      b.submit(xRows(1, 1)),
      b.submit(xRows(2, 2), { outputs: ["y"] }),
      b.submit(xRows(1, 3)),
      b.submit(xRows(1, 4), { outputs: ["y"] }),
      b.submit(xRows(3, 5))
    ]
    await done
    // the default outputs (1 + 1 + 3 rows), then the two asking for ["y"] (2 + 1 rows)
    expect(b.calls).toEqual([5, 3])
    expect(fakes.map((f) => f.answers.length)).toEqual([1, 1, 1, 1, 1])
    expect(answerOf(fakes[2]!)).toEqual([6])
    expect(answerOf(fakes[4]!)).toEqual([10, 21, 32])
  })

  it("shares a call only between the same version, the same non-batch dimensions and the same requested outputs", () => {
    const v7 = servingModel(fakeModel(async (inputs) => rowSums(inputs)).model, 7).current
    const v8 = servingModel(fakeModel(async (inputs) => rowSums(inputs)).model, 8).current
    const job = (x: HostTensor, outputs?: ReadonlyArray<string>, version = v7): Job => ({
      msg: fakeMsg({}).msg,
      encoding: "json",
      inputs: { x },
      outputs,
      deadline: 0,
      arrived: 0,
      version
    })
    const wide: HostTensor = { dtype: "float32", shape: [1, 3], data: new Float32Array(3) }
    expect(canShareCall(job(xRows(1)), job(xRows(4)))).toBe(true)
    expect(canShareCall(job(xRows(1)), job(xRows(4), undefined, v8))).toBe(false)
    expect(canShareCall(job(xRows(1)), job(wide))).toBe(false)
    expect(canShareCall(job(xRows(1), ["y"]), job(xRows(2), ["y"]))).toBe(true)
    expect(canShareCall(job(xRows(1), ["y"]), job(xRows(2)))).toBe(false)
    expect(canShareCall(job(xRows(1), ["y", "z"]), job(xRows(2), ["z", "y"]))).toBe(false)
  })

  it("never puts more than maxBatchSize rows in one call", async () => {
    const b = setup(async (inputs) => rowSums(inputs), 4)
    const done = b.idle()
    const fakes = [b.submit(xRows(3)), b.submit(xRows(2)), b.submit(xRows(1)), b.submit(xRows(2))]
    await done
    expect(b.calls).toEqual([4, 4])
    expect(fakes.map((f) => answerOf(f))).toEqual([[0, 11, 22], [0, 11], [0], [0, 11]])
    expect(b.admission.inflight()).toBe(0)
  })

  it("runs the requests one by one when the model answers a batch of another size", async () => {
    // a model that always returns one row, whatever the batch: fine alone, wrong for a stack
    const b = setup(async (inputs) => {
      const sums = rowSums(inputs).y!
      return { y: { dtype: "float32", shape: [1, 1], data: sums.data.subarray(0, 1) } }
    })
    const done = b.idle()
    const first = b.submit(xRows(1, 1))
    const second = b.submit(xRows(1, 3))
    await done
    expect(b.calls).toEqual([2, 1, 1])
    expect(answerOf(first)).toEqual([2])
    expect(answerOf(second)).toEqual([6])
    expect(b.stats).toMatchObject({ served: 2, errors: 0, calls: 3 })
  })

  it("runs each request on the version it was admitted on: requests of two versions never share a call", async () => {
    const b = setup(async (inputs) => rowSums(inputs))
    const done = b.idle()
    const before = b.submit(xRows(1, 1))
    const v8 = fakeModel(async (inputs) => rowSums(inputs))
    swapIn(b.serving, v8.model, 8)
    const after = b.submit(xRows(1, 2))
    await done
    expect([b.calls, v8.calls]).toEqual([[1], [1]])
    const versionOf = (fake: FakeMsg) => {
      const { reply } = fake.answers[0]!
      return reply.kind === "reply" ? reply.reply.version : reply.kind
    }
    expect([versionOf(before), versionOf(after)]).toEqual([7, 8])
  })

  it("answers DeadlineExceeded without computing when the caller's deadline has passed", async () => {
    const b = setup(async (inputs) => rowSums(inputs))
    const done = b.idle()
    const late = b.submit(xRows(1), { deadline: performance.now() - 1 })
    const onTime = b.submit(xRows(1, 4))
    await done
    expect(answerOf(late)).toEqual({ error: "DeadlineExceeded", code: "504" })
    expect(answerOf(onTime)).toEqual([8])
    expect(b.calls).toEqual([1])
    expect(b.stats).toMatchObject({ served: 1, errors: 1, calls: 1 })
    expect(b.stats.lastError?._tag).toBe("DeadlineExceeded")
  })

  it("answers InferenceFailed to every request of a call the model fails", async () => {
    const b = setup(async () => {
      throw new Error("kernel exploded")
    })
    const done = b.idle()
    const fakes = [b.submit(xRows(1)), b.submit(xRows(2))]
    await done
    for (const fake of fakes) {
      expect(answerOf(fake)).toEqual({ error: "InferenceFailed", code: "500" })
      expect(fake.answers[0]!.errorHeader).toMatch(/failed while computing a batch of 3: kernel exploded/)
    }
    expect(b.stats).toMatchObject({ served: 0, errors: 2, calls: 1 })
  })

  it("answers InferenceFailed to a lone request whose call fails", async () => {
    const b = setup(() => Promise.reject(new Error("out of memory")))
    const done = b.idle()
    const alone = b.submit(xRows(1))
    await done
    expect(answerOf(alone)).toEqual({ error: "InferenceFailed", code: "500" })
    expect(alone.answers[0]!.errorHeader).toMatch(/out of memory/)
    expect(b.stats).toMatchObject({ served: 0, errors: 1, calls: 1 })
    expect(b.stats.lastError?.message).toMatch(/out of memory/)
  })

  it("answers InferenceFailed, and goes on serving, when the model returns no tensor for the output (alone or batched)", async () => {
    let empty = true
    const b = setup(async (inputs) => (empty ? {} : rowSums(inputs)))
    const done = b.idle()
    const fakes = [b.submit(xRows(1)), b.submit(xRows(2))]
    await done
    for (const fake of fakes) {
      expect(answerOf(fake)).toEqual({ error: "InferenceFailed", code: "500" })
      expect(fake.answers[0]!.errorHeader).toMatch(/returned no tensor for output y/)
    }
    empty = false
    const next = b.idle()
    const after = b.submit(xRows(1, 2))
    await next
    expect(answerOf(after)).toEqual([4])
    expect(b.admission.inflight()).toBe(0)
  })

  it("starts at the config's limit, or at the fallback (being measured) under auto", () => {
    expect(initialBatchLimit({ maxBatchSize: 8, maxDelayMs: 0 })).toEqual({ maxBatchSize: 8, source: "config" })
    expect(initialBatchLimit({ maxBatchSize: "auto", maxDelayMs: 0 })).toEqual({ maxBatchSize: 32, source: "probing" })
    expect(setup(async (inputs) => rowSums(inputs), 4).stats.batchLimit).toEqual({ maxBatchSize: 4, source: "config" })
  })

  it("applies a new limit to the batches it takes next and reports it in stats", async () => {
    const b = setup(async (inputs) => rowSums(inputs), 32)
    b.batcher.setLimit({ maxBatchSize: 2, source: "measured", version: 7 })
    expect(b.stats.batchLimit).toEqual({ maxBatchSize: 2, source: "measured", version: 7 })
    const done = b.idle()
    const fakes = [1, 2, 3, 4, 5].map((offset) => b.submit(xRows(1, offset)))
    await done
    expect(b.calls).toEqual([2, 2, 1])
    expect(fakes.map((f) => answerOf(f))).toEqual([[2], [4], [6], [8], [10]])
  })

  it("counts as queued only the jobs not yet taken, and waits maxDelayMs only while a batch could grow", () => {
    const v7 = servingModel(fakeModel(async (inputs) => rowSums(inputs)).model, 7).current
    const stats = actorStats()
    const batcher = makeBatcher(stats, { maxBatchSize: 3, maxDelayMs: 5 })
    const job = (x: HostTensor): Job => ({
      msg: fakeMsg({}).msg,
      encoding: "json",
      inputs: { x },
      outputs: undefined,
      deadline: Number.POSITIVE_INFINITY,
      arrived: 0,
      version: v7
    })
    expect([batcher.size(), batcher.delayMs()]).toEqual([0, 0])
    batcher.push(job(xRows(1)))
    batcher.push(job(xRows(1)))
    expect([batcher.size(), batcher.delayMs()]).toEqual([2, 5])
    batcher.push(job(xRows(1)))
    batcher.push(job(xRows(1)))
    // three jobs fill a batch: take it now
    expect([batcher.size(), batcher.delayMs()]).toEqual([4, 0])
    expect(batcher.take()).toHaveLength(3)
    expect([batcher.size(), batcher.delayMs()]).toEqual([1, 5])
  })
})
