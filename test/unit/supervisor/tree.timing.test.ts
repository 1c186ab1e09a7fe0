// Everything the supervisor decides by the clock, on TestClock with fake processes: the restart
// window's edges (a restart exactly `period` old still counts), the backoff sequence, hang detection.
import { Effect } from "effect"
import { TestClock } from "effect/testing"
import { describe, expect } from "vitest"
import { it } from "../../helpers/effectVitest.js"
import { makeFakeLauncher } from "./fakeLauncher.js"
import { startTree } from "./treeHarness.js"

describe("restart intensity on monotonic time", () => {
  /** Two crashes `gapMs` apart under intensity 1 within 10 s: did the model's supervisor give up? */
  const gaveUpAfterGap = (gapMs: number) =>
    Effect.gen(function* () {
      const { tree, fake, crash, serving } = yield* startTree({
        supervisor: { intensity: 10, period: 60 },
        models: [{ name: "m", path: "m", supervisor: { intensity: 1, period: 10 }, backoff: { initialMs: 0 } }]
      })
      yield* tree.started
      yield* crash(fake.current("m-1"))
      yield* serving("m")
      yield* TestClock.adjust(gapMs)
      const second = yield* crash(fake.current("m-1"))
      return second.commands.some((c) => c._tag === "Fail")
    })

  it.effect("counts a restart exactly `period` old as inside the window (OTP's inPeriod)", () =>
    Effect.gen(function* () {
      expect(yield* gaveUpAfterGap(10_000)).toBe(true)
    })
  )

  it.effect("forgets a restart older than `period`", () =>
    Effect.gen(function* () {
      expect(yield* gaveUpAfterGap(10_001)).toBe(false)
    })
  )
})

describe("backoff", () => {
  it.effect("waits initialMs, then twice as long after each quick crash, capped at maxMs; a long life resets it", () =>
    Effect.gen(function* () {
      const { tree, fake, events, crash, serving } = yield* startTree({
        models: [
          {
            name: "m",
            path: "m",
            supervisor: { intensity: 100, period: 3600 },
            backoff: { initialMs: 100, maxMs: 500, jitter: 0, resetAfterMs: 10_000 }
          }
        ]
      })
      yield* tree.started
      yield* TestClock.adjust(20_000) // a long life: the first crash restarts at once
      for (const waitMs of [0, 100, 200, 400, 500]) {
        yield* crash(fake.current("m-1"))
        if (waitMs > 0) {
          yield* TestClock.adjust(waitMs - 1)
          expect(fake.live("m-1")).toEqual([])
          yield* TestClock.adjust(1)
        }
        expect(fake.live("m-1")).toHaveLength(1)
        yield* serving("m")
      }
      yield* TestClock.adjust(20_000)
      yield* crash(fake.current("m-1"))
      expect(fake.live("m-1")).toHaveLength(1)
      const waits = events.flatMap((e, i) => {
        const exit = events.slice(0, i).findLast((x) => x.type === "exited")
        return e.type === "restarted" && exit !== undefined ? [e.at - exit.at] : []
      })
      expect(waits).toEqual([0, 100, 200, 400, 500, 0])
    })
  )
})

describe("hang detection", () => {
  it.effect("kills a child silent for hangTimeoutMs (not before), and restarts it as a crash", () =>
    Effect.gen(function* () {
      const { tree, fake, heartbeat } = yield* startTree({
        models: [{ name: "m", path: "m", hangTimeoutMs: 2_000, heartbeatMs: 200 }]
      })
      yield* tree.started
      const victim = fake.current("m-1")
      for (let i = 0; i < 20; i++) {
        yield* TestClock.adjust(200)
        yield* heartbeat(victim)
      }
      expect(victim.alive).toBe(true)
      yield* TestClock.adjust(1_999)
      expect(victim.alive).toBe(true)
      yield* TestClock.adjust(1)
      expect(victim.stoppedWith).toBe("brutal_kill")
      yield* TestClock.adjust(1_000) // its backoff: it lived less than resetAfterMs
      const child = tree.model("m")!.state().children[0]!
      expect(child.lastExit).toEqual({ kind: "hang", silentMs: 2_000 })
      expect(child.restarts).toBe(1)
      expect(fake.current("m-1").pid).not.toBe(victim.pid)
    })
  )

  it.effect("gives a new process startTimeoutMs before its first report, then hangTimeoutMs", () =>
    Effect.gen(function* () {
      const fake = makeFakeLauncher(() => "silent")
      const { handled } = yield* startTree(
        { models: [{ name: "m", path: "m", hangTimeoutMs: 2_000, startTimeoutMs: 10_000, heartbeatMs: 200 }] },
        fake
      )
      yield* handled("m", (e) => e._tag === "Init")
      const starting = fake.current("m-1")
      yield* TestClock.adjust(9_999)
      expect(starting.alive).toBe(true)
      yield* TestClock.adjust(1)
      expect(starting.stoppedWith).toBe("brutal_kill")
    })
  )

  it.effect("judges a process that reported once by hangTimeoutMs again", () =>
    Effect.gen(function* () {
      const fake = makeFakeLauncher(() => "silent")
      const { handled, report } = yield* startTree(
        { models: [{ name: "m", path: "m", hangTimeoutMs: 2_000, startTimeoutMs: 10_000, heartbeatMs: 200 }] },
        fake
      )
      yield* handled("m", (e) => e._tag === "Init")
      const starting = fake.current("m-1")
      yield* TestClock.adjust(5_000)
      yield* report(starting, { _tag: "Heartbeat", state: "starting" })
      yield* TestClock.adjust(1_999)
      expect(starting.alive).toBe(true)
      yield* TestClock.adjust(1)
      expect(starting.stoppedWith).toBe("brutal_kill")
    })
  )
})
