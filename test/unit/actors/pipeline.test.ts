// The per-message path of one infer message: refused at once with a typed error and its NATS micro
// status header (503 at the in-flight limit, 413 over the size limit, 400 undecodable or not fitting
// the signature; a place taken given back), else queued with its deadline and version, holding its place.
import { describe, expect, it } from "vitest"
import { makeAdmission } from "../../../src/actors/admission.js"
import type { Job } from "../../../src/actors/batcher.js"
import { makeLiveCanary } from "../../../src/actors/canary/live.js"
import { type ActorStats, answerInfer, type PipelineContext } from "../../../src/actors/pipeline.js"
import { servingModel, servingVersion } from "../../../src/actors/servingModel.js"
import { actorStats } from "../../../src/actors/stats.js"
import { canaryState } from "./canary/state.js"
import { fakeModel, fakeMsg, rowSums } from "./fakes.js"

const setup = (options: { readonly maxInflight?: number; readonly maxPayloadBytes?: number } = {}) => {
  const submitted: Array<Job> = []
  const stats: ActorStats = actorStats()
  const admission = makeAdmission(options.maxInflight ?? 8)
  const serving = servingModel(fakeModel(async (inputs) => rowSums(inputs)).model, 1)
  const ctx: PipelineContext = {
    actorId: "fake-1",
    serving,
    maxPayloadBytes: options.maxPayloadBytes ?? 1024,
    admission,
    stats,
    loop: { submit: (job) => void submitted.push(job) }
  }
  return { ctx, stats, admission, serving, submitted }
}

const VALID = { inputs: [[1, 2]] }

/** The error a refused message was answered with: tag, status header and message. */
const refusal = (fake: ReturnType<typeof fakeMsg>) => {
  expect(fake.answers).toHaveLength(1)
  const { reply, code, errorHeader } = fake.answers[0]!
  if (reply.kind !== "error") throw new Error(`expected an error reply, got ${JSON.stringify(reply)}`)
  expect(errorHeader).toBe(reply.error.message)
  return { tag: reply.error._tag, code, message: reply.error.message }
}

describe("answerInfer", () => {
  it("queues a valid request with its inputs, outputs, deadline and version, holding its place, and answers nothing itself", () => {
    const { ctx, stats, admission, serving, submitted } = setup()
    const fake = fakeMsg({ ...VALID, outputs: ["y"], timeoutMs: 250 })
    const before = performance.now()
    answerInfer(ctx, fake.msg)
    expect(fake.answers).toEqual([])
    expect(submitted).toHaveLength(1)
    const job = submitted[0]!
    expect(job.encoding).toBe("json")
    expect(job.outputs).toEqual(["y"])
    expect(job.inputs.x!.shape).toEqual([1, 2])
    expect(Array.from(job.inputs.x!.data as Float32Array)).toEqual([1, 2])
    expect(job.deadline).toBeGreaterThanOrEqual(before + 250)
    expect(job.deadline).toBeLessThanOrEqual(performance.now() + 250)
    expect(job.arrived).toBeCloseTo(job.deadline - 250, 6)
    expect(job.version).toBe(serving.current)
    expect(serving.current.inflight).toBe(1)
    expect(admission.inflight()).toBe(1)
    expect(stats.errors).toBe(0)
  })

  it("refuses with Overloaded (503) at maxInflight, without decoding, and counts the refusal", () => {
    const { ctx, stats, admission, submitted } = setup({ maxInflight: 2 })
    answerInfer(ctx, fakeMsg(VALID).msg)
    answerInfer(ctx, fakeMsg(VALID).msg)
    const fake = fakeMsg("{not even json")
    answerInfer(ctx, fake.msg)
    expect(refusal(fake)).toEqual({
      tag: "Overloaded",
      code: "503",
      message: "fake-1 has 2 requests in flight (limit 2)"
    })
    expect(submitted).toHaveLength(2)
    expect(admission.counters()).toEqual({ inflight: 2, overloaded: 1, leftQueueGroup: 0 })
    expect(stats.errors).toBe(1)
    // what NATS micro STATS reports: the last error, and the time the refusal took
    expect(stats.lastError?._tag).toBe("Overloaded")
    expect(stats.processingMs).toBeGreaterThan(0)
  })

  it("refuses a body over maxPayloadBytes with PayloadTooLarge (413) naming both sizes", () => {
    const { ctx, stats, submitted } = setup({ maxPayloadBytes: 16 })
    const fake = fakeMsg({ inputs: [[1, 2]], padding: "0123456789" })
    answerInfer(ctx, fake.msg)
    const size = fake.msg.data.byteLength
    expect(refusal(fake)).toEqual({
      tag: "PayloadTooLarge",
      code: "413",
      message: `request body is ${size} bytes; this actor accepts at most 16`
    })
    expect(submitted).toEqual([])
    expect(stats.errors).toBe(1)
  })

  it("refuses an undecodable body with BadInput (400) saying what it expected", () => {
    const { ctx, stats, submitted } = setup()
    const fake = fakeMsg("{not json")
    answerInfer(ctx, fake.msg)
    const refused = refusal(fake)
    expect([refused.tag, refused.code]).toEqual(["BadInput", "400"])
    expect(refused.message).toMatch(/body is not valid JSON/)
    expect(submitted).toEqual([])
    expect(stats.errors).toBe(1)
  })

  it("refuses inputs that do not fit the signature with BadInput (400) naming expected and received", () => {
    const { ctx, admission, serving, submitted } = setup()
    const fake = fakeMsg({ inputs: [[1, 2, 3]] })
    answerInfer(ctx, fake.msg)
    const refused = refusal(fake)
    expect([refused.tag, refused.code]).toEqual(["BadInput", "400"])
    expect(refused.message).toMatch(/expected shape \[\?, 2\], received \[1, 3\]/)
    expect(submitted).toEqual([])
    // a refused request gives back its place, and holds no version (one is chosen only once it passed its checks)
    expect(admission.inflight()).toBe(0)
    expect(serving.current.inflight).toBe(0)
  })

  it("ignores a message nobody waits for (no reply subject)", () => {
    const { ctx, stats, submitted } = setup()
    const fake = fakeMsg(VALID, { reply: false })
    answerInfer(ctx, fake.msg)
    expect(fake.answers).toEqual([])
    expect(submitted).toEqual([])
    expect(stats.errors).toBe(0)
    expect(stats.processingMs).toBe(0)
  })
})

describe("answerInfer with a canary running", () => {
  it("gives a checked request the candidate when its draw falls within the share, else the current version; a refusal holds neither", () => {
    const { ctx, admission, serving, submitted } = setup()
    const candidate = servingVersion(fakeModel(async (inputs) => rowSums(inputs)).model, 2, true)
    const canary = makeLiveCanary(canaryState({ percent: 100 }), candidate, () => {})
    serving.canary = canary
    answerInfer(ctx, fakeMsg(VALID).msg)
    canary.share = 0
    answerInfer(ctx, fakeMsg(VALID).msg)
    expect(submitted.map((job) => job.version)).toEqual([candidate, serving.current])
    expect([candidate.inflight, serving.current.inflight]).toEqual([1, 1])
    canary.share = 1
    const bad = fakeMsg({ inputs: [[1, 2, 3]] })
    answerInfer(ctx, bad.msg)
    expect(refusal(bad).tag).toBe("BadInput")
    expect([candidate.inflight, serving.current.inflight, admission.inflight()]).toEqual([1, 1, 2])
    // refused before a version was chosen: counted for neither version
    expect([canary.figures.candidate.requests, canary.figures.stable.requests]).toEqual([0, 0])
  })
})
