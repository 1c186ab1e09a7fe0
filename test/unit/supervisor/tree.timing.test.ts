// Everything the supervisor decides by the clock, on TestClock with fake processes: the restart
// window's edges (a restart exactly `period` old still counts), the backoff sequence, hang detection.
import { Effect } from "effect"
import { describe, expect, it } from "vitest"
import { counters, makeFakeLauncher } from "./fakeLauncher.js"
import { advance, runTree, settle } from "./treeHarness.js"

describe("restart intensity on monotonic time", () => {
  /** Two crashes `gapMs` apart under intensity 1: did the model's supervisor give up? */
  const gaveUpAfterGap = (gapMs: number) => {
    const fake = makeFakeLauncher()
    return runTree(
      {
        supervisor: { intensity: 10, period: 60 },
        models: [{ name: "m", path: "m", supervisor: { intensity: 1, period: 10 }, backoff: { initialMs: 0 } }]
      },
      fake,
      ({ tree, events }) =>
        Effect.gen(function* () {
          yield* tree.started
          fake.crash(fake.current("m-1"))
          yield* settle
          yield* advance(gapMs)
          fake.crash(fake.current("m-1"))
          yield* settle
          return events.some((e) => e.type === "escalated")
        })
    )
  }

  it("counts a restart exactly `period` old as inside the window (OTP's inPeriod)", async () => {
    expect(await gaveUpAfterGap(10_000)).toBe(true)
  })

  it("forgets a restart older than `period`", async () => {
    expect(await gaveUpAfterGap(10_001)).toBe(false)
  })
})

describe("backoff", () => {
  it("waits initialMs, then twice as long after each quick crash, capped at maxMs; a long life resets it", async () => {
    const fake = makeFakeLauncher()
    const waits = await runTree(
      {
        models: [
          {
            name: "m",
            path: "m",
            supervisor: { intensity: 100, period: 3600 },
            backoff: { initialMs: 100, maxMs: 500, jitter: 0, resetAfterMs: 10_000 }
          }
        ]
      },
      fake,
      ({ tree, events }) =>
        Effect.gen(function* () {
          yield* tree.started
          yield* advance(20_000) // a long life: the first crash restarts at once
          for (let i = 0; i < 5; i++) {
            fake.crash(fake.current("m-1"))
            yield* settle
            for (let t = 0; t < 1_000 && fake.live("m-1").length === 0; t += 10) yield* advance(10)
          }
          yield* advance(20_000)
          fake.crash(fake.current("m-1"))
          yield* settle
          return events.flatMap((e, i) => {
            const exit = events.slice(0, i).findLast((x) => x.type === "exited")
            return e.type === "restarted" && exit !== undefined ? [e.at - exit.at] : []
          })
        })
    )
    expect(waits).toEqual([0, 100, 200, 400, 500, 0])
  })
})

describe("hang detection", () => {
  it("kills a child silent for hangTimeoutMs (not before), and restarts it as a crash", async () => {
    const fake = makeFakeLauncher()
    const result = await runTree(
      { models: [{ name: "m", path: "m", hangTimeoutMs: 2_000, heartbeatMs: 200 }] },
      fake,
      ({ tree }) =>
        Effect.gen(function* () {
          yield* tree.started
          const victim = fake.current("m-1")
          for (let i = 0; i < 20; i++) {
            yield* advance(200)
            fake.heartbeat(victim)
            yield* settle
          }
          const aliveWhileBeating = victim.alive
          yield* advance(1_999)
          const aliveJustBefore = victim.alive
          yield* advance(1)
          const killedWith = victim.stoppedWith
          yield* advance(1_000) // its backoff: it lived less than resetAfterMs
          const child = tree.model("m")!.state().children[0]!
          return {
            aliveWhileBeating,
            aliveJustBefore,
            killedWith,
            lastExit: child.lastExit,
            restarts: child.restarts,
            replaced: fake.current("m-1").pid !== victim.pid
          }
        })
    )
    expect(result).toEqual({
      aliveWhileBeating: true,
      aliveJustBefore: true,
      killedWith: "brutal_kill",
      lastExit: { kind: "hang", silentMs: 2_000 },
      restarts: 1,
      replaced: true
    })
  })

  it("gives a new process startTimeoutMs before its first report, then hangTimeoutMs", async () => {
    const fake = makeFakeLauncher(() => "silent")
    const result = await runTree(
      { models: [{ name: "m", path: "m", hangTimeoutMs: 2_000, startTimeoutMs: 10_000, heartbeatMs: 200 }] },
      fake,
      () =>
        Effect.gen(function* () {
          yield* settle
          const starting = fake.current("m-1")
          yield* advance(9_999)
          const aliveJustBefore = starting.alive
          yield* advance(1)
          return { pastHangTimeout: aliveJustBefore, killedWith: starting.stoppedWith }
        })
    )
    expect(result).toEqual({ pastHangTimeout: true, killedWith: "brutal_kill" })
  })

  it("judges a process that reported once by hangTimeoutMs again", async () => {
    const fake = makeFakeLauncher(() => "silent")
    const result = await runTree(
      { models: [{ name: "m", path: "m", hangTimeoutMs: 2_000, startTimeoutMs: 10_000, heartbeatMs: 200 }] },
      fake,
      () =>
        Effect.gen(function* () {
          yield* settle
          const starting = fake.current("m-1")
          yield* advance(5_000)
          starting.signal({ _tag: "Reported", report: { _tag: "Heartbeat", state: "starting", counters: counters() } })
          yield* settle
          yield* advance(1_999)
          const aliveJustBefore = starting.alive
          yield* advance(1)
          return { aliveJustBefore, killedWith: starting.stoppedWith }
        })
    )
    expect(result).toEqual({ aliveJustBefore: true, killedWith: "brutal_kill" })
  })
})
