// Shadow traffic on the hot path with fake models: a canary splits batches by version, the candidate re-runs
// stable answers only after they were sent and only in the model loop's idle lane (stacked into one call), the
// comparisons reach the figures, a full queue drops and counts; and the pure output comparison itself.
import { describe, expect, it } from "vitest"
import { compareOutputs } from "../../../../src/actors/canary/compare.js"
import { makeLiveCanary, shadowed } from "../../../../src/actors/canary/live.js"
import { makeShadowRunner } from "../../../../src/actors/canary/shadow.js"
import { makeMeasurements } from "../../../../src/actors/measurements.js"
import { servingVersion } from "../../../../src/actors/servingModel.js"
import type { HostTensor } from "../../../../src/protocol/tensor.js"
import { type FakeMsg, fakeHotPath, fakeModel, rowSums, xRows } from "../fakes.js"
import { canaryState } from "./state.js"

const f32 = (shape: Array<number>, values: Array<number>): HostTensor => ({
  dtype: "float32",
  shape,
  data: new Float32Array(values)
})

describe("compareOutputs (pure)", () => {
  it("agrees when every row's argmax is the same, and reports the largest difference", () => {
    const stable = { y: f32([2, 3], [0.1, 0.7, 0.2, 0.5, 0.3, 0.2]) }
    expect(compareOutputs(stable, { y: f32([2, 3], [0.2, 0.6, 0.2, 0.6, 0.3, 0.1]) })).toEqual({
      agree: true,
      maxAbsDiff: expect.closeTo(0.1, 6)
    })
    // the second row's class moved
    expect(compareOutputs(stable, { y: f32([2, 3], [0.1, 0.7, 0.2, 0.2, 0.3, 0.5]) }).agree).toBe(false)
  })

  it("disagrees, with an unbounded difference, on a missing output, another shape or NaN", () => {
    const stable = { y: f32([1, 2], [1, 0]) }
    expect(compareOutputs(stable, {})).toEqual({ agree: false, maxAbsDiff: Number.POSITIVE_INFINITY })
    expect(compareOutputs(stable, { y: f32([2, 1], [1, 0]) }).maxAbsDiff).toBe(Number.POSITIVE_INFINITY)
    expect(compareOutputs(stable, { y: f32([1, 2], [Number.NaN, 0]) }).maxAbsDiff).toBe(Number.POSITIVE_INFINITY)
  })
})

/** The hot path (batcher and model loop) whose stable model sums rows and whose candidate sums them plus `offset`; every call is logged. */
const setup = (options: { percent: number; shadow: number; offset: number; capacity?: number; minRows?: number }) => {
  const log: Array<string> = []
  const hot = fakeHotPath(async (inputs) => {
    log.push(`stable ${inputs.x!.shape[0]}`)
    return rowSums(inputs)
  })
  const candidateModel = fakeModel(async (inputs) => {
    log.push(`candidate ${inputs.x!.shape[0]}`)
    const y = rowSums(inputs).y!
    return { y: { ...y, data: (y.data as Float32Array).map((v) => v + options.offset) } }
  })
  const listeners = new Set<() => void>()
  /** Resolves once `n` shadow comparisons were counted. */
  const compared = (n: number) =>
    new Promise<void>((resolve) => {
      const check = () => {
        if (canary.figures.shadow.samples < n) return
        listeners.delete(check)
        resolve()
      }
      listeners.add(check)
      check()
    })
  const { serving } = hot
  const candidate = servingVersion(candidateModel.model, 8, true)
  const canary = makeLiveCanary(canaryState({ percent: options.percent, shadow: options.shadow }), candidate, () => {})
  canary.shadow = makeShadowRunner({
    candidate,
    whenIdle: hot.loop.whenIdle,
    maxRows: () => 32,
    minRows: () => options.minRows ?? 1,
    maxWaitMs: 30,
    capacity: options.capacity ?? 1024,
    onResult: (outcome) => {
      log.push(`compared ${outcome === "dropped" || outcome === "failed" ? outcome : outcome.agree}`)
      shadowed(canary, outcome)
      for (const listener of [...listeners]) listener()
    }
  })
  serving.canary = canary
  const submit = (draw: number, x = xRows(1, draw * 10)) => {
    const fake = hot.submit(x, { draw })
    // replied to later, from the model loop
    const respond = fake.msg.respond.bind(fake.msg)
    fake.msg.respond = (...args: Parameters<typeof respond>) => {
      log.push("reply")
      return respond(...args)
    }
    return fake
  }
  /** Resolves once every request submitted is answered. */
  const answered = hot.idle
  /** Resolves once the model loop had a few idle turns (shadow runs are done). */
  const quiet = async () => {
    for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r))
  }
  return { log, submit, answered, quiet, compared, canary, candidate, serving }
}

const versionOf = (fake: FakeMsg) => {
  const reply = fake.answers[0]!.reply
  return reply.kind === "reply" ? reply.reply.version : undefined
}

describe("a canary on the hot path", () => {
  it("splits a batch by version: each version gets one call of its own requests", async () => {
    const s = setup({ percent: 50, shadow: 0, offset: 0 })
    const done = s.answered()
    const fakes = [0.1, 0.9, 0.2, 0.8, 0.3].map((d) => s.submit(d))
    await done
    expect(fakes.map(versionOf)).toEqual([8, 7, 8, 7, 8])
    expect(s.log.filter((l) => !l.startsWith("reply"))).toEqual(["candidate 3", "stable 2"])
    expect(s.canary.figures.candidate.requests).toBe(3)
    expect(s.canary.figures.stable.requests).toBe(2)
    expect(s.candidate.inflight).toBe(0)
    expect(s.serving.current.inflight).toBe(0)
  })

  it("counts the candidate's part of the outcomes and latencies (/metrics), and its model failures, not a missed deadline, in the figures", async () => {
    const measure = makeMeasurements()
    const b = fakeHotPath(async (inputs) => rowSums(inputs), { measure })
    const broken = fakeModel(async () => {
      throw new Error("candidate broke")
    })
    const candidate = servingVersion(broken.model, 8, true)
    const canary = makeLiveCanary(canaryState({ percent: 50 }), candidate, () => {})
    b.serving.canary = canary
    const done = b.idle()
    const stable = b.submit(xRows(1), { draw: 0.9 })
    const failed = b.submit(xRows(1), { draw: 0.1 })
    const late = b.submit(xRows(1), { draw: 0.1, deadline: performance.now() - 1 })
    await done
    expect(versionOf(stable)).toBe(7)
    expect([failed, late].map((f) => f.answers[0]!.code)).toEqual(["500", "504"])
    expect(measure.outcomes).toMatchObject({ ok: 1, inference_failed: 1, deadline_exceeded: 1 })
    expect(measure.candidate.outcomes).toMatchObject({ ok: 0, inference_failed: 1, deadline_exceeded: 1 })
    const observed = (counts: ReadonlyArray<number>) => counts.reduce((a, c) => a + c, 0)
    expect([observed(measure.total.counts), observed(measure.candidate.total.counts)]).toEqual([3, 2])
    expect(canary.figures.stable).toMatchObject({ requests: 1, errors: 0 })
    expect(canary.figures.candidate).toMatchObject({ requests: 1, errors: 1 })
    expect([candidate.inflight, b.serving.current.inflight]).toEqual([0, 0])
  })

  it("shadows stable answers after their replies, stacked into one idle call, and counts agreement", async () => {
    const s = setup({ percent: 0, shadow: 100, offset: 0 })
    const done = s.answered()
    for (let i = 0; i < 4; i++) s.submit(0.5, xRows(1, i))
    await done
    await s.quiet()
    expect(s.log).toEqual([
      "stable 4",
      "reply",
      "reply",
      "reply",
      "reply",
      "candidate 4",
      "compared true",
      "compared true",
      "compared true",
      "compared true"
    ])
    expect(s.canary.figures.shadow).toMatchObject({ samples: 4, agreements: 4, maxAbsDiff: 0 })
  })

  it("runs waiting requests before waiting shadow work", async () => {
    const s = setup({ percent: 0, shadow: 100, offset: 1 })
    const first = s.answered()
    s.submit(0.5)
    await first
    // the shadow run is queued for the next idle turn; a request arriving now goes first
    const second = s.answered()
    s.submit(0.5, xRows(1, 7))
    await second
    await s.quiet()
    expect(s.log).toEqual(["stable 1", "reply", "stable 1", "reply", "candidate 2", "compared true", "compared true"])
  })

  it("counts a disagreement when the candidate's class moves", async () => {
    // rowSums of a one-column output has no argmax to move: a two-class output does
    const s = setup({ percent: 0, shadow: 100, offset: 0 })
    const stable = { y: f32([1, 2], [0.9, 0.1]) }
    s.canary.shadow!.offer({ inputs: { x: xRows(1) }, outputs: undefined, expected: stable })
    await s.quiet()
    expect(s.canary.figures.shadow.samples).toBe(1)
    // the candidate's y has one column: another shape than the stable [1, 2]
    expect(s.canary.figures.shadow.agreements).toBe(0)
  })

  it("lets shadow work gather to min-rows before a call, or runs what waited max-wait", async () => {
    const s = setup({ percent: 0, shadow: 100, offset: 0, minRows: 3 })
    const offer = (i: number) =>
      s.canary.shadow!.offer({ inputs: { x: xRows(1, i) }, outputs: undefined, expected: rowSums({ x: xRows(1, i) }) })
    offer(1)
    offer(2)
    await s.quiet()
    expect(s.log).toEqual([])
    offer(3)
    await s.quiet()
    expect(s.log.filter((l) => l.startsWith("candidate"))).toEqual(["candidate 3"])
    // a lone one runs once it waited maxWaitMs
    offer(4)
    await s.quiet()
    expect(s.canary.figures.shadow.samples).toBe(3)
    await s.compared(4)
    expect(s.log.filter((l) => l.startsWith("candidate"))).toEqual(["candidate 3", "candidate 1"])
  })

  it("drops (and counts) shadow work beyond the queue's capacity", async () => {
    const s = setup({ percent: 0, shadow: 100, offset: 0, capacity: 2 })
    const done = s.answered()
    for (let i = 0; i < 5; i++) s.submit(0.5, xRows(1, i))
    await done
    await s.quiet()
    expect(s.canary.figures.shadow).toMatchObject({ samples: 2, dropped: 3 })
  })
})
