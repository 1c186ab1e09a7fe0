// The model loop on a fake model: a defect inside a batch (an exception no model failure explains) is
// answered InferenceFailed to every request it hit, once each, logged, and the loop goes on; a reply
// that cannot be sent fails that request alone; places and versions always come back; work given to
// `between` runs alone, alternating with batches; work given to `whenIdle` runs only once nothing else waits.
import { describe, expect, it } from "vitest"
import type { HostTensor } from "../../../src/protocol/tensor.js"
import { type FakeMsg, fakeHotPath, rowSums, xRows } from "./fakes.js"

/** The error tag and message of the one answer a request got, or its outputs. */
const answerOf = (fake: FakeMsg) => {
  expect(fake.answers).toHaveLength(1)
  const { reply, code } = fake.answers[0]!
  if (reply.kind === "reply") return Array.from((reply.reply.outputs as HostTensor).data as Float32Array)
  return reply.kind === "error" ? { error: reply.error._tag, code, message: reply.error.message } : reply
}

/** Outputs a runtime adapter with a bug might return: a tensor without a shape. */
const shapeless = (inputs: Readonly<Record<string, HostTensor>>) =>
  ({ y: { dtype: "float32", data: rowSums(inputs).y!.data } }) as unknown as Record<string, HostTensor>

describe("makeModelLoop", () => {
  it("answers InferenceFailed to every request of a batch that hits a defect, logs it, and goes on serving", async () => {
    let broken = true
    const b = fakeHotPath(async (inputs) => (broken ? shapeless(inputs) : rowSums(inputs)))
    const done = b.idle()
    const fakes = [b.submit(xRows(1, 1)), b.submit(xRows(2, 2)), b.submit(xRows(1, 3))]
    await done
    for (const fake of fakes) {
      expect(answerOf(fake)).toMatchObject({ error: "InferenceFailed", code: "500" })
      expect(fake.answers[0]!.errorHeader).toMatch(/fake-1 could not answer: an unexpected error while running fake/)
    }
    expect(b.calls).toEqual([4])
    expect(b.defects).toHaveLength(1)
    expect(b.defects[0]!.message).toBe("actor fake-1: defect in a batch of 3 requests; 3 answered InferenceFailed")
    expect(b.defects[0]!.cause).toBeInstanceOf(TypeError)
    expect(b.stats).toMatchObject({ served: 0, errors: 3, calls: 1 })
    expect(b.stats.lastError?._tag).toBe("InferenceFailed")
    expect([b.admission.inflight(), b.serving.current.inflight]).toEqual([0, 0])
    broken = false
    const next = b.idle()
    const after = [b.submit(xRows(1, 2)), b.submit(xRows(1, 4))]
    await next
    expect(after.map(answerOf)).toEqual([[4], [8]])
    expect(b.defects).toHaveLength(1)
  })

  it("never answers a request twice: one answered before the defect keeps its answer alone", async () => {
    const b = fakeHotPath(async (inputs) => shapeless(inputs))
    const done = b.idle()
    const late = b.submit(xRows(1), { deadline: performance.now() - 1 })
    const hit = [b.submit(xRows(1)), b.submit(xRows(1))]
    await done
    expect(answerOf(late)).toMatchObject({ error: "DeadlineExceeded", code: "504" })
    for (const fake of hit) expect(answerOf(fake)).toMatchObject({ error: "InferenceFailed" })
    expect(b.defects.map((d) => d.message)).toEqual([
      "actor fake-1: defect in a batch of 3 requests; 2 answered InferenceFailed"
    ])
    expect(b.stats).toMatchObject({ errors: 3 })
    expect(b.admission.idle()).toBe(true)
  })

  it("logs the requests a defect could not answer either (their replies cannot be sent)", async () => {
    const b = fakeHotPath(async (inputs) => shapeless(inputs))
    const done = b.idle()
    const fakes = [b.submit(xRows(1)), b.submit(xRows(1))]
    fakes[1]!.msg.respond = () => {
      throw new Error("connection closed")
    }
    await done
    expect(answerOf(fakes[0]!)).toMatchObject({ error: "InferenceFailed" })
    expect(b.defects.map((d) => d.message)).toEqual([
      "actor fake-1: defect in a batch of 2 requests; 1 answered InferenceFailed, 1 could not be answered"
    ])
    expect(b.stats).toMatchObject({ errors: 1 })
    expect([b.admission.inflight(), b.serving.current.inflight]).toEqual([0, 0])
  })

  it("fails only the request whose reply cannot be sent; the rest of its batch is answered (no defect)", async () => {
    const b = fakeHotPath(async (inputs) => rowSums(inputs))
    const done = b.idle()
    const fakes = [b.submit(xRows(1, 1)), b.submit(xRows(1, 2)), b.submit(xRows(1, 3))]
    let refused = 0
    const respond = fakes[1]!.msg.respond.bind(fakes[1]!.msg)
    fakes[1]!.msg.respond = (...args: Parameters<typeof respond>) => {
      // the first reply (outputs) is over the server's limit; the error reply goes out
      if (refused++ === 0) throw new Error("message exceeds max_payload")
      return respond(...args)
    }
    await done
    expect(answerOf(fakes[0]!)).toEqual([2])
    expect(answerOf(fakes[1]!)).toMatchObject({ error: "InferenceFailed" })
    expect(fakes[1]!.answers[0]!.errorHeader).toMatch(/gave no answer to send: message exceeds max_payload/)
    expect(answerOf(fakes[2]!)).toEqual([6])
    expect(b.defects).toEqual([])
    expect(b.stats).toMatchObject({ served: 2, errors: 1 })
  })

  it("runs work given to `between` alone, alternating with the batches that wait", async () => {
    const log: Array<string | number> = []
    const b = fakeHotPath(
      async (inputs) => {
        log.push(inputs.x!.shape[0]!)
        return rowSums(inputs)
      },
      { batching: { maxBatchSize: 2, maxDelayMs: 0 } }
    )
    const done = b.idle()
    for (let i = 0; i < 5; i++) b.submit(xRows(1))
    const tasks = ["probe 1", "probe 2"].map((name) =>
      b.loop.between(async () => {
        log.push(name)
        return name
      })
    )
    expect(await Promise.all(tasks)).toEqual(["probe 1", "probe 2"])
    await done
    expect(log).toEqual(["probe 1", 2, "probe 2", 2, 1])
  })

  it("runs `whenIdle` work last, after the batches and `between` work that wait, and ignores its failure", async () => {
    const log: Array<string | number> = []
    const b = fakeHotPath(
      async (inputs) => {
        log.push(inputs.x!.shape[0]!)
        return rowSums(inputs)
      },
      { batching: { maxBatchSize: 2, maxDelayMs: 0 } }
    )
    const idleDone = new Promise<void>((resolve) => {
      b.loop.whenIdle(async () => {
        log.push("idle 1")
        throw new Error("shadow run failed")
      })
      b.loop.whenIdle(async () => {
        log.push(`idle 2 (${b.admission.inflight()} held, ${b.loop.queued()} queued)`)
        resolve()
      })
    })
    const done = b.idle()
    for (let i = 0; i < 3; i++) b.submit(xRows(1))
    const probe = b.loop.between(async () => void log.push("probe"))
    await Promise.all([done, probe, idleDone])
    expect(log).toEqual(["probe", 2, 1, "idle 1", "idle 2 (0 held, 0 queued)"])
    const next = b.idle()
    const after = b.submit(xRows(1, 2))
    await next
    expect(answerOf(after)).toEqual([4])
    expect(b.defects).toEqual([])
  })

  it("rejects `between` with the error its work threw, and goes on serving", async () => {
    const b = fakeHotPath(async (inputs) => rowSums(inputs))
    await expect(b.loop.between(() => Promise.reject(new Error("probe failed")))).rejects.toThrow("probe failed")
    const done = b.idle()
    const after = b.submit(xRows(1, 2))
    await done
    expect(answerOf(after)).toEqual([4])
  })
})
