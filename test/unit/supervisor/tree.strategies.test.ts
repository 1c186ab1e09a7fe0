// OTP's strategies and restart types on the real interpreter (fake processes, TestClock): which
// children a crash restarts, which exits are restarted at all, and escalation to the root.
import { Effect } from "effect"
import { describe, expect, it } from "vitest"
import type { ModelTree } from "../../../src/supervisor/runtime/modelTree.js"
import { makeFakeLauncher } from "./fakeLauncher.js"
import { advance, runTree, settle } from "./treeHarness.js"

/** Long enough for a process to count as long-lived (its slot's backoff resets). */
const LONG_LIFE_MS = 60_000

const childrenOf = (tree: ModelTree, model: string) => tree.model(model)!.state().children

const pidsOf = (fake: ReturnType<typeof makeFakeLauncher>, model: string, n: number) =>
  Array.from({ length: n }, (_, i) => fake.live(`${model}-${i + 1}`).map((p) => p.pid))

describe("strategies", () => {
  const crashSecond = (strategy: "one_for_one" | "one_for_all" | "rest_for_one") => {
    const fake = makeFakeLauncher()
    return runTree({ models: [{ name: "m", path: "m", replicas: 3, supervisor: { strategy } }] }, fake, ({ tree }) =>
      Effect.gen(function* () {
        yield* tree.started
        yield* advance(LONG_LIFE_MS)
        const before = pidsOf(fake, "m", 3).map((p) => p[0])
        fake.crash(fake.current("m-2"))
        yield* settle
        const after = pidsOf(fake, "m", 3).map((p) => p[0])
        return {
          replaced: before.map((pid, i) => pid !== after[i]),
          restarts: childrenOf(tree, "m").map((c) => c.restarts),
          serving: childrenOf(tree, "m").every((c) => c.primary?.state === "serving")
        }
      })
    )
  }

  it("one_for_one restarts the failed child only", async () => {
    expect(await crashSecond("one_for_one")).toEqual({
      replaced: [false, true, false],
      restarts: [0, 1, 0],
      serving: true
    })
  })

  it("one_for_all restarts every child", async () => {
    expect(await crashSecond("one_for_all")).toEqual({
      replaced: [true, true, true],
      restarts: [1, 1, 1],
      serving: true
    })
  })

  it("rest_for_one restarts the failed child and those started after it", async () => {
    expect(await crashSecond("rest_for_one")).toEqual({
      replaced: [false, true, true],
      restarts: [0, 1, 1],
      serving: true
    })
  })

  it("one_for_all stops the siblings in reverse start order before starting them again in order", async () => {
    const fake = makeFakeLauncher()
    const order = await runTree(
      { models: [{ name: "m", path: "m", replicas: 3, supervisor: { strategy: "one_for_all" } }] },
      fake,
      ({ tree }) =>
        Effect.gen(function* () {
          yield* tree.started
          yield* advance(LONG_LIFE_MS)
          fake.crash(fake.current("m-1"))
          yield* settle
          return fake.processes.map(
            (p) => `${p.id.split("@")[0]}:${p.alive ? "up" : p.stoppedWith === undefined ? "crashed" : "stopped"}`
          )
        })
    )
    expect(order).toEqual(["m-1:crashed", "m-2:stopped", "m-3:stopped", "m-1:up", "m-2:up", "m-3:up"])
  })
})

describe("restart types", () => {
  const exitOnce = (restart: "permanent" | "transient" | "temporary", code: number) => {
    const fake = makeFakeLauncher()
    return runTree({ models: [{ name: "m", path: "m", restart }] }, fake, ({ tree }) =>
      Effect.gen(function* () {
        yield* tree.started
        yield* advance(LONG_LIFE_MS)
        fake.crash(fake.current("m-1"), code === 0 ? { kind: "normal" } : { kind: "code", code })
        yield* settle
        return fake.live("m-1").length === 1
      })
    )
  }

  it("a permanent child is restarted after any exit", async () => {
    expect(await exitOnce("permanent", 0)).toBe(true)
    expect(await exitOnce("permanent", 1)).toBe(true)
  })

  it("a transient child is restarted only after an abnormal exit", async () => {
    expect(await exitOnce("transient", 0)).toBe(false)
    expect(await exitOnce("transient", 1)).toBe(true)
  })

  it("a temporary child is never restarted", async () => {
    expect(await exitOnce("temporary", 0)).toBe(false)
    expect(await exitOnce("temporary", 1)).toBe(false)
  })
})

describe("escalation", () => {
  it("a model supervisor that gives up is restarted by the root (one_for_all: every model), and the root gives up in turn", async () => {
    const fake = makeFakeLauncher()
    const result = await runTree(
      {
        supervisor: { strategy: "one_for_all", intensity: 1, period: 60 },
        models: [
          { name: "bystander", path: "b" },
          { name: "doomed", path: "d", supervisor: { intensity: 0 } }
        ]
      },
      fake,
      ({ tree, events }) =>
        Effect.gen(function* () {
          yield* tree.started
          yield* advance(LONG_LIFE_MS)
          const bystander = fake.current("bystander-1").pid
          fake.crash(fake.current("doomed-1"))
          yield* settle
          const afterFirst = {
            bystanderReplaced: fake.current("bystander-1").pid !== bystander,
            escalations: tree.root.state().children.map((c) => c.restarts)
          }
          fake.crash(fake.current("doomed-1"))
          yield* settle
          const error = yield* Effect.flip(tree.failure)
          return { afterFirst, error, events, alive: fake.processes.filter((p) => p.alive).length }
        })
    )
    expect(result.afterFirst).toEqual({ bystanderReplaced: true, escalations: [1, 1] })
    expect(result.error._tag).toBe("IntensityExceeded")
    expect(result.error.message).toBe(
      "root supervisor gave up: more than 1 restarts within 60 s (last: model doomed gave up: more than 0 restarts within 60 s (last: replica doomed-1 killed by SIGKILL))"
    )
    expect(result.events.filter((e) => e.type === "escalated").map((e) => e.model)).toEqual(["doomed", "doomed"])
    const byRoot = result.events.filter((e) => e.type === "restarted" && e.child === undefined)
    expect(byRoot.map((e) => e.model)).toEqual(["bystander", "doomed"])
    expect(byRoot[0]!.reason).toBe(
      "model supervisor restarted by the root supervisor (one_for_all) after doomed gave up"
    )
    expect(result.alive).toBe(0)
  })
})
