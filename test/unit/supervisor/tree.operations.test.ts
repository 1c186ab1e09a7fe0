// Operator restarts, scaling and recycling on the real interpreter with fake processes: no gap in
// service, answers that always come (defect 3: the old process dies while its replacement starts).
import { Effect, Fiber } from "effect"
import { describe, expect, it } from "vitest"
import { type Behavior, makeFakeLauncher } from "./fakeLauncher.js"
import { advance, runTree, settle } from "./treeHarness.js"

/** A launcher whose new processes behave as `mode.next` says at the time they start. */
const switchable = () => {
  const mode: { next: Behavior } = { next: "ready" }
  return { mode, fake: makeFakeLauncher(() => mode.next) }
}

describe("restart (replace without a gap)", () => {
  it("starts the replacement first, answers once it serves, then drains the old process", async () => {
    const { mode, fake } = switchable()
    const result = await runTree({ models: [{ name: "m", path: "m", replicas: 2 }] }, fake, ({ tree }) =>
      Effect.gen(function* () {
        yield* tree.started
        const old = fake.current("m-1")
        mode.next = "silent"
        const call = yield* Effect.forkChild(tree.model("m")!.restart("m-1"))
        yield* settle
        const whileStarting = {
          oldAlive: old.alive,
          processes: fake.live("m-1").length,
          answered: call.pollUnsafe() !== undefined
        }
        fake.ready(fake.current("m-1"))
        yield* settle
        return {
          whileStarting,
          done: yield* Fiber.join(call),
          oldStoppedWith: old.stoppedWith,
          restarts: tree
            .model("m")!
            .state()
            .children.map((c) => c.restarts)
        }
      })
    )
    expect(result).toEqual({
      whileStarting: { oldAlive: true, processes: 2, answered: false },
      done: ["m-1"],
      oldStoppedWith: 10_000,
      restarts: [1, 0]
    })
  })

  it("still answers when the old process dies while its replacement starts (defect 3)", async () => {
    const { mode, fake } = switchable()
    const result = await runTree({ models: [{ name: "m", path: "m" }] }, fake, ({ tree }) =>
      Effect.gen(function* () {
        yield* tree.started
        yield* advance(60_000)
        mode.next = "silent"
        const call = yield* Effect.forkChild(tree.model("m")!.restart())
        yield* settle
        const [old, replacement] = fake.live("m-1")
        fake.crash(old!)
        yield* settle
        const answeredBeforeServing = call.pollUnsafe() !== undefined
        fake.ready(replacement!)
        yield* settle
        return { answeredBeforeServing, done: yield* Fiber.join(call), processes: fake.live("m-1").length }
      })
    )
    expect(result).toEqual({ answeredBeforeServing: false, done: ["m-1"], processes: 1 })
  })

  it("answers with nothing replaced when the replacement fails to start", async () => {
    const { mode, fake } = switchable()
    const done = await runTree({ models: [{ name: "m", path: "m" }] }, fake, ({ tree }) =>
      Effect.gen(function* () {
        yield* tree.started
        mode.next = "failStart"
        return yield* tree.model("m")!.restart()
      })
    )
    expect(done).toEqual([])
  })

  it("a restart of a child still starting is answered when that process serves", async () => {
    const { mode, fake } = switchable()
    const result = await runTree({ models: [{ name: "m", path: "m" }] }, fake, ({ tree }) =>
      Effect.gen(function* () {
        yield* tree.started
        yield* advance(60_000)
        mode.next = "silent"
        fake.crash(fake.current("m-1"))
        yield* settle
        const call = yield* Effect.forkChild(tree.model("m")!.restart())
        yield* settle
        fake.ready(fake.current("m-1"))
        yield* settle
        return { done: yield* Fiber.join(call), processes: fake.processes.length }
      })
    )
    expect(result).toEqual({ done: ["m-1"], processes: 2 })
  })
})

describe("scale", () => {
  it("adds children with the next ids and removes the last ones first, stopping them gracefully", async () => {
    const fake = makeFakeLauncher()
    const result = await runTree({ models: [{ name: "m", path: "m", replicas: 2 }] }, fake, ({ tree }) =>
      Effect.gen(function* () {
        yield* tree.started
        const up = yield* tree.model("m")!.scale(4)
        yield* settle
        const down = yield* tree.model("m")!.scale(1)
        return {
          up,
          down,
          live: fake.processes.filter((p) => p.alive).map((p) => p.id),
          stopped: fake.processes.filter((p) => !p.alive).map((p) => p.stoppedWith)
        }
      })
    )
    expect(result).toEqual({
      up: ["m-3", "m-4"],
      down: ["m-2", "m-3", "m-4"],
      live: ["m-1@test"],
      stopped: [10_000, 10_000, 10_000]
    })
  })

  it("scaling down a child that waits out its backoff cancels its restart", async () => {
    const fake = makeFakeLauncher()
    const result = await runTree(
      { models: [{ name: "m", path: "m", replicas: 2, backoff: { initialMs: 1_000, jitter: 0 } }] },
      fake,
      ({ tree }) =>
        Effect.gen(function* () {
          yield* tree.started
          fake.crash(fake.current("m-2")) // lived 0 ms: its restart waits 1 s
          yield* settle
          const removed = yield* tree.model("m")!.scale(1)
          yield* advance(10_000)
          return { removed, started: fake.processes.filter((p) => p.id.startsWith("m-2")).length }
        })
    )
    expect(result).toEqual({ removed: ["m-2"], started: 1 })
  })
})

describe("recycling", () => {
  it("starts the replacement while the old process serves, and stops the old one only once the new one serves", async () => {
    const { mode, fake } = switchable()
    const result = await runTree(
      { models: [{ name: "m", path: "m", recycle: { afterRequests: 100 } }] },
      fake,
      ({ tree, events }) =>
        Effect.gen(function* () {
          yield* tree.started
          const old = fake.current("m-1")
          mode.next = "silent"
          fake.heartbeat(old, { served: 150 })
          yield* settle
          const overlap = fake.live("m-1").length
          const oldAliveWhileStarting = old.alive
          fake.ready(fake.current("m-1"))
          yield* settle
          const child = tree.model("m")!.state().children[0]!
          return {
            overlap,
            oldAliveWhileStarting,
            oldStopped: old.stoppedWith,
            recycled: child.recycled,
            restarts: child.restarts,
            events: events.filter((e) => e.type === "recycled").length
          }
        })
    )
    expect(result).toEqual({
      overlap: 2,
      oldAliveWhileStarting: true,
      oldStopped: 10_000,
      recycled: 1,
      restarts: 0,
      events: 1
    })
  })
})
