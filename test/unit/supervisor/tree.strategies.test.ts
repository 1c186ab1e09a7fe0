// OTP's strategies and restart types on the real interpreter (fake processes, TestClock): which
// children a crash restarts, which exits are restarted at all, and escalation to the root.
import { Effect } from "effect"
import { TestClock } from "effect/testing"
import { describe, expect } from "vitest"
import type { RestartType } from "../../../src/supervisor/machine/childSpec.js"
import type { Strategy } from "../../../src/supervisor/machine/strategy.js"
import { it } from "../../helpers/effectVitest.js"
import type { FakeLauncher } from "./fakeLauncher.js"
import { startTree } from "./treeHarness.js"

/** Long enough for a process to count as long-lived (its slot's backoff resets: restarted at once). */
const LONG_LIFE_MS = 60_000

const pidOf = (fake: FakeLauncher, id: string) => fake.current(id).pid

describe("strategies", () => {
  /** Crashes the second of three replicas: which were replaced, and the restarts of each slot. */
  const crashSecond = (strategy: Strategy) =>
    Effect.gen(function* () {
      const { tree, fake, crash, serving } = yield* startTree({
        models: [{ name: "m", path: "m", replicas: 3, supervisor: { strategy } }]
      })
      yield* tree.started
      yield* TestClock.adjust(LONG_LIFE_MS)
      const ids = ["m-1", "m-2", "m-3"]
      const before = ids.map((id) => pidOf(fake, id))
      yield* crash(fake.current("m-2"))
      yield* serving("m")
      return {
        replaced: ids.map((id, i) => pidOf(fake, id) !== before[i]),
        restarts: tree
          .model("m")!
          .state()
          .children.map((c) => c.restarts)
      }
    })

  it.effect("one_for_one restarts the failed child only", () =>
    Effect.gen(function* () {
      expect(yield* crashSecond("one_for_one")).toEqual({ replaced: [false, true, false], restarts: [0, 1, 0] })
    })
  )

  it.effect("one_for_all restarts every child", () =>
    Effect.gen(function* () {
      expect(yield* crashSecond("one_for_all")).toEqual({ replaced: [true, true, true], restarts: [1, 1, 1] })
    })
  )

  it.effect("rest_for_one restarts the failed child and those started after it", () =>
    Effect.gen(function* () {
      expect(yield* crashSecond("rest_for_one")).toEqual({ replaced: [false, true, true], restarts: [0, 1, 1] })
    })
  )

  it.effect("one_for_all stops the siblings in reverse start order before starting them again in order", () =>
    Effect.gen(function* () {
      const { tree, fake, crash, serving } = yield* startTree({
        models: [{ name: "m", path: "m", replicas: 3, supervisor: { strategy: "one_for_all" } }]
      })
      yield* tree.started
      yield* TestClock.adjust(LONG_LIFE_MS)
      yield* crash(fake.current("m-1"))
      yield* serving("m")
      expect(fake.stopped.map((p) => p.child)).toEqual(["m-3", "m-2"])
      expect(
        fake.processes.map((p) => `${p.child}:${p.alive ? "up" : p.stoppedWith === undefined ? "crashed" : "stopped"}`)
      ).toEqual(["m-1:crashed", "m-2:stopped", "m-3:stopped", "m-1:up", "m-2:up", "m-3:up"])
    })
  )
})

describe("restart types", () => {
  /** One exit of a long-lived replica (code 0 is a normal exit): is a process of its slot running after it? */
  const restartedAfter = (restart: RestartType, code: number) =>
    Effect.gen(function* () {
      const { tree, fake, crash } = yield* startTree({ models: [{ name: "m", path: "m", restart }] })
      yield* tree.started
      yield* TestClock.adjust(LONG_LIFE_MS)
      yield* crash(fake.current("m-1"), code === 0 ? { kind: "normal" } : { kind: "code", code })
      return fake.live("m-1").length === 1
    })

  it.effect("a permanent child is restarted after any exit", () =>
    Effect.gen(function* () {
      expect([yield* restartedAfter("permanent", 0), yield* restartedAfter("permanent", 1)]).toEqual([true, true])
    })
  )

  it.effect("a transient child is restarted only after an abnormal exit", () =>
    Effect.gen(function* () {
      expect([yield* restartedAfter("transient", 0), yield* restartedAfter("transient", 1)]).toEqual([false, true])
    })
  )

  it.effect("a temporary child is never restarted", () =>
    Effect.gen(function* () {
      expect([yield* restartedAfter("temporary", 0), yield* restartedAfter("temporary", 1)]).toEqual([false, false])
    })
  )
})

describe("escalation", () => {
  it.effect(
    "a model supervisor that gives up is restarted by the root (one_for_all: every model), and the root gives up in turn",
    () =>
      Effect.gen(function* () {
        const { tree, fake, events, steps, crash, handled, when } = yield* startTree({
          supervisor: { strategy: "one_for_all", intensity: 1, period: 60 },
          models: [
            { name: "bystander", path: "b" },
            { name: "doomed", path: "d", supervisor: { intensity: 0 } }
          ]
        })
        yield* tree.started
        yield* TestClock.adjust(LONG_LIFE_MS)
        const bystander = pidOf(fake, "bystander-1")
        const since = steps.length
        const gaveUp = yield* crash(fake.current("doomed-1"))
        expect(gaveUp.commands.at(-1)).toEqual({
          _tag: "Fail",
          failure: { kind: "gaveUp", message: expect.stringMatching(/^model doomed gave up/) }
        })
        yield* handled("root", (e) => e._tag === "Exited" && e.id === "doomed", since)
        // both models run again: their new supervisors have started (every replica serves)
        yield* when("root", () => tree.root.state().children.every((c) => c.primary?.state === "serving"))
        expect(pidOf(fake, "bystander-1")).not.toBe(bystander)
        expect(tree.root.state().children.map((c) => c.restarts)).toEqual([1, 1])

        yield* crash(fake.current("doomed-1"))
        const error = yield* Effect.flip(tree.failure)
        expect(error._tag).toBe("IntensityExceeded")
        expect(error.message).toBe(
          "root supervisor gave up: more than 1 restarts within 60 s (last: model doomed gave up: more than 0 restarts within 60 s (last: replica doomed-1 killed by SIGKILL))"
        )
        expect(events.filter((e) => e.type === "escalated").map((e) => e.model)).toEqual(["doomed", "doomed"])
        const byRoot = events.filter((e) => e.type === "restarted" && e.child === undefined)
        expect(byRoot.map((e) => e.model)).toEqual(["bystander", "doomed"])
        expect(byRoot[0]!.reason).toBe(
          "model supervisor restarted by the root supervisor (one_for_all) after doomed gave up"
        )
        expect(fake.processes.filter((p) => p.alive)).toEqual([])
      })
  )
})
