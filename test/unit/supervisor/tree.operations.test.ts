// Operator restarts, scaling and recycling on the real interpreter with fake processes: no gap in
// service, answers that always come (also when the old process dies while its replacement starts).
import { Effect, Fiber } from "effect"
import { TestClock } from "effect/testing"
import { describe, expect } from "vitest"
import { it } from "../../helpers/effectVitest.js"
import { type Behavior, makeFakeLauncher } from "./fakeLauncher.js"
import { startTree } from "./treeHarness.js"

/** A launcher whose new processes behave as `mode.next` says at the time they start. */
const switchable = () => {
  const mode: { next: Behavior } = { next: "ready" }
  return { mode, fake: makeFakeLauncher(() => mode.next) }
}

describe("restart (replace without a gap)", () => {
  it.effect("starts the replacement first, answers once it serves, then drains the old process", () =>
    Effect.gen(function* () {
      const { mode, fake } = switchable()
      const { tree, steps, handled, ready } = yield* startTree(
        { models: [{ name: "m", path: "m", replicas: 2 }] },
        fake
      )
      yield* tree.started
      const old = fake.current("m-1")
      mode.next = "silent"
      const since = steps.length
      const call = yield* Effect.forkChild(tree.model("m")!.restart("m-1"))
      yield* handled("m", (e) => e._tag === "RestartRequested", since)
      expect({ oldAlive: old.alive, processes: fake.live("m-1").length, answered: call.pollUnsafe() }).toEqual({
        oldAlive: true,
        processes: 2,
        answered: undefined
      })
      yield* ready(fake.current("m-1"))
      expect(yield* Fiber.join(call)).toEqual(["m-1"])
      yield* fake.until(() => !old.alive)
      expect(old.stoppedWith).toBe(10_000)
      expect(
        tree
          .model("m")!
          .state()
          .children.map((c) => c.restarts)
      ).toEqual([1, 0])
    })
  )

  it.effect("still answers when the old process dies while its replacement starts", () =>
    Effect.gen(function* () {
      const { mode, fake } = switchable()
      const { tree, steps, handled, crash, ready } = yield* startTree({ models: [{ name: "m", path: "m" }] }, fake)
      yield* tree.started
      yield* TestClock.adjust(60_000)
      mode.next = "silent"
      const since = steps.length
      const call = yield* Effect.forkChild(tree.model("m")!.restart())
      yield* handled("m", (e) => e._tag === "RestartRequested", since)
      const [old, replacement] = fake.live("m-1")
      yield* crash(old!)
      expect(call.pollUnsafe()).toBeUndefined()
      yield* ready(replacement!)
      expect(yield* Fiber.join(call)).toEqual(["m-1"])
      expect(fake.live("m-1")).toEqual([replacement])
    })
  )

  it.effect("answers with nothing replaced when the replacement fails to start", () =>
    Effect.gen(function* () {
      const { mode, fake } = switchable()
      const { tree } = yield* startTree({ models: [{ name: "m", path: "m" }] }, fake)
      yield* tree.started
      mode.next = "failStart"
      expect(yield* tree.model("m")!.restart()).toEqual([])
    })
  )

  it.effect("a restart of a child still starting is answered when that process serves", () =>
    Effect.gen(function* () {
      const { mode, fake } = switchable()
      const { tree, steps, handled, crash, ready } = yield* startTree({ models: [{ name: "m", path: "m" }] }, fake)
      yield* tree.started
      yield* TestClock.adjust(60_000)
      mode.next = "silent"
      yield* crash(fake.current("m-1"))
      const since = steps.length
      const call = yield* Effect.forkChild(tree.model("m")!.restart())
      yield* handled("m", (e) => e._tag === "RestartRequested", since)
      yield* ready(fake.current("m-1"))
      expect(yield* Fiber.join(call)).toEqual(["m-1"])
      expect(fake.processes).toHaveLength(2)
    })
  )
})

describe("scale", () => {
  it.effect("adds children with the next ids and removes the last ones first, stopping them gracefully", () =>
    Effect.gen(function* () {
      const { tree, fake } = yield* startTree({ models: [{ name: "m", path: "m", replicas: 2 }] })
      yield* tree.started
      expect(yield* tree.model("m")!.scale(4)).toEqual(["m-3", "m-4"])
      expect(yield* tree.model("m")!.scale(1)).toEqual(["m-2", "m-3", "m-4"])
      expect(fake.processes.filter((p) => p.alive).map((p) => p.id)).toEqual(["m-1@test"])
      expect(fake.stopped.map((p) => [p.child, p.stoppedWith])).toEqual([
        ["m-4", 10_000],
        ["m-3", 10_000],
        ["m-2", 10_000]
      ])
    })
  )

  it.effect("scaling down a child that waits out its backoff cancels its restart", () =>
    Effect.gen(function* () {
      const { tree, fake, crash } = yield* startTree({
        models: [{ name: "m", path: "m", replicas: 2, backoff: { initialMs: 1_000, jitter: 0 } }]
      })
      yield* tree.started
      yield* crash(fake.current("m-2")) // lived 0 ms: its restart waits 1 s
      expect(yield* tree.model("m")!.scale(1)).toEqual(["m-2"])
      yield* TestClock.adjust(10_000)
      expect(fake.processes.filter((p) => p.child === "m-2")).toHaveLength(1)
    })
  )
})

describe("recycling", () => {
  it.effect(
    "starts the replacement while the old process serves, and stops the old one only once the new one serves",
    () =>
      Effect.gen(function* () {
        const { mode, fake } = switchable()
        const { tree, events, heartbeat, ready } = yield* startTree(
          { models: [{ name: "m", path: "m", recycle: { afterRequests: 100 } }] },
          fake
        )
        yield* tree.started
        const old = fake.current("m-1")
        mode.next = "silent"
        yield* heartbeat(old, { served: 150 })
        expect(fake.live("m-1")).toHaveLength(2)
        expect(old.stoppedWith).toBeUndefined()
        yield* ready(fake.current("m-1"))
        yield* fake.until(() => !old.alive)
        const child = tree.model("m")!.state().children[0]!
        expect({
          oldStopped: old.stoppedWith,
          recycled: child.recycled,
          restarts: child.restarts,
          events: events.filter((e) => e.type === "recycled").length
        }).toEqual({ oldStopped: 10_000, recycled: 1, restarts: 0, events: 1 })
      })
  )
})
