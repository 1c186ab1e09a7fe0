// A replica's steps on canary entries, by canary id and phase: the sequence a killed JetStream 2.9 stream
// leader produced (the canary's end written under a revision the replica had applied as "running") still
// ends the canary; a stale "running" entry of an ended canary is never taken up again; a candidate that
// failed to load is not retried on every notice; a replaced canary counts as ended.
import { describe, expect, it } from "vitest"
import {
  type CanaryHistory,
  type CanaryStep,
  canaryStep,
  noCanaryHistory,
  REMEMBERED_ENDED
} from "../../../../src/actors/canary/entrySteps.js"

type Entry = { readonly id: string; readonly running: boolean }

/** Feeds entries to a replica that runs what it takes up (and nothing it ends), returning each step. */
const replay = (entries: ReadonlyArray<Entry>, start: CanaryHistory = noCanaryHistory) => {
  let history = start
  let runningHere: string | undefined
  const steps: Array<CanaryStep> = []
  for (const { id, running } of entries) {
    const next = canaryStep(history, runningHere, id, running)
    history = next.history
    steps.push(next.step)
    if (next.step === "takeUp" || next.step === "replace") runningHere = id
    if (next.step === "end") runningHere = undefined
  }
  return { steps, runningHere, history }
}

describe("canaryStep", () => {
  it("takes a running canary up once, however often its entry is read again", () => {
    const { steps, runningHere } = replay([
      { id: "a", running: true },
      { id: "a", running: true },
      { id: "a", running: true }
    ])
    expect(steps).toEqual(["takeUp", "ignore", "ignore"])
    expect(runningHere).toBe("a")
  })

  it("ends the canary running here when its end arrives, whatever revision the entry carries", () => {
    // the revision is not an input: an end renumbered below what was applied is still an end
    expect(
      replay([
        { id: "a", running: true },
        { id: "a", running: false }
      ]).steps
    ).toEqual(["takeUp", "end"])
  })

  it("never takes an ended canary up again (a read answered late with its running entry)", () => {
    const { steps, runningHere } = replay([
      { id: "a", running: true },
      { id: "a", running: false },
      { id: "a", running: true }
    ])
    expect(steps).toEqual(["takeUp", "end", "ignore"])
    expect(runningHere).toBeUndefined()
  })

  it("does not take up a canary whose end it saw first (a replica started after the abort)", () => {
    expect(
      replay([
        { id: "a", running: false },
        { id: "a", running: true }
      ]).steps
    ).toEqual(["ignore", "ignore"])
  })

  it("replaces the running canary by a new one, and never goes back to the replaced one", () => {
    const { steps, runningHere } = replay([
      { id: "a", running: true },
      { id: "b", running: true },
      { id: "a", running: true },
      { id: "a", running: false }
    ])
    expect(steps).toEqual(["takeUp", "replace", "ignore", "ignore"])
    expect(runningHere).toBe("b")
  })

  it("does not try a candidate again after its take-up failed (the replica runs nothing)", () => {
    const tried = canaryStep(noCanaryHistory, undefined, "a", true)
    expect(tried.step).toBe("takeUp")
    // the load failed: nothing runs here, and the next read of the same entry changes nothing
    expect(canaryStep(tried.history, undefined, "a", true).step).toBe("ignore")
    // its end is nothing to do either, and a new canary is taken up
    expect(canaryStep(tried.history, undefined, "a", false).step).toBe("ignore")
    expect(canaryStep(tried.history, undefined, "b", true).step).toBe("takeUp")
  })

  it("ignores the end of a canary that is not the one running here", () => {
    expect(
      replay([
        { id: "a", running: true },
        { id: "b", running: false }
      ]).steps
    ).toEqual(["takeUp", "ignore"])
  })

  it(`remembers the last ${REMEMBERED_ENDED} ended canaries`, () => {
    const ended = Array.from({ length: REMEMBERED_ENDED + 1 }, (_, i) => ({ id: `c${i}`, running: false }))
    const { history } = replay(ended)
    expect(history.ended).toHaveLength(REMEMBERED_ENDED)
    expect(history.ended).not.toContain("c0")
    expect(history.ended.at(-1)).toBe(`c${REMEMBERED_ENDED}`)
  })
})
