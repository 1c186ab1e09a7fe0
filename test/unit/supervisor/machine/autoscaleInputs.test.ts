// The autoscaler's inputs as pure functions: a load sample from a model supervisor's children
// (refusals counted once, per process) and the host budget's grant (growth held, shrinking never).
import { describe, expect, it } from "vitest"
import { grant, loadSampleOf } from "../../../../src/supervisor/machine/autoscaleInputs.js"
import { initialState, newIncarnation, type SupervisorState } from "../../../../src/supervisor/machine/state.js"
import { worker as spec } from "./builders.js"

const counters = (inflight: number, overloaded = 0, leftQueueGroup = 0) => ({
  version: 1,
  loads: 1,
  served: 0,
  errors: 0,
  inflight,
  overloaded,
  leftQueueGroup,
  calls: 0,
  tensors: 0,
  rssBytes: 0
})

/** A model supervisor whose children's primaries are in `states`, with these counters. */
const model = (
  children: ReadonlyArray<{ state: "serving" | "starting"; n: number; c?: ReturnType<typeof counters> }>
): SupervisorState => {
  const base = initialState({
    name: "iris",
    flags: { strategy: "one_for_one", intensity: 3, periodMs: 1000 },
    children: children.map((_, i) => spec(`iris-${i + 1}`))
  })
  return {
    ...base,
    children: base.children.map((child, i) => {
      const { state, n, c } = children[i]!
      return { ...child, primary: { ...newIncarnation(n, 0), state, counters: c, reported: true } }
    })
  }
}

describe("loadSampleOf", () => {
  it("sums in flight over serving replicas and counts refusals since the previous sample, per process", () => {
    const state = model([
      { state: "serving", n: 1, c: counters(3, 2, 1) },
      { state: "serving", n: 2, c: counters(4) },
      { state: "starting", n: 3, c: counters(9, 9, 9) }
    ])
    const first = loadSampleOf(state, new Map(), 100)
    expect(first.sample).toEqual({
      at: 100,
      replicas: 2,
      inflight: 7,
      refused: 2,
      leftQueueGroup: 1,
      held: 0,
      queued: 0
    })
    expect(loadSampleOf(state, new Map(), 100, 0, 5).sample.queued).toBe(5)
    const again = loadSampleOf(state, first.seen, 200)
    expect(again.sample).toMatchObject({ refused: 0, leftQueueGroup: 0 })
    // a new process of the slot counts from its own start
    const restarted = model([{ state: "serving", n: 4, c: counters(0, 1) }])
    expect(loadSampleOf(restarted, again.seen, 300).sample).toMatchObject({ replicas: 1, refused: 1 })
    // requests held at zero count as in flight
    expect(loadSampleOf(model([]), new Map(), 400, 3).sample).toEqual({
      at: 400,
      replicas: 0,
      inflight: 3,
      refused: 0,
      leftQueueGroup: 0,
      held: 3,
      queued: 0
    })
  })
})

describe("grant", () => {
  it.each([
    ["inside the budget: the target", 4, 2, 2, 8, 4, 0],
    ["the budget binds: as many as fit, the rest wanted", 6, 2, 4, 8, 4, 2],
    ["no room at all: what there is", 5, 3, 6, 8, 3, 2],
    ["shrinking is never held back", 1, 3, 9, 8, 1, 0]
  ] as const)("%s", (_, target, current, others, maxActors, replicas, wantedMore) => {
    expect(grant(target, current, others, maxActors)).toEqual({ replicas, wantedMore })
  })
})
