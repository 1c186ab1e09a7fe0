// Waiting for the replicas' acknowledgements of a new version: the pure progress and timeout
// decisions, and the waiting itself on a Queue of acks under TestClock (no real time passes).
import { Effect, Exit, Fiber, Queue } from "effect"
import { TestClock } from "effect/testing"
import { describe, expect, it } from "vitest"
import { awaitRollout, rolloutProgress, settleAtTimeout } from "../../../src/client/rollout.js"
import type { UpdateAck } from "../../../src/protocol/messages.js"

const ack = (actor: string, version: number, ok = true): UpdateAck => ({
  actor,
  model: "iris",
  version,
  ok,
  loads: 2,
  ...(ok ? {} : { error: "shape mismatch" })
})

const byActor = (...acks: Array<UpdateAck>) => new Map(acks.map((a) => [a.actor, a]))

describe("rollout decisions (pure)", () => {
  it("waits while a listed replica has not acked, naming who has and who has not", () => {
    expect(rolloutProgress(["a", "b", "c"], byActor(ack("b", 2)))).toEqual({
      _tag: "Waiting",
      acked: ["b"],
      pending: ["a", "c"]
    })
  })

  it("is served once every listed replica acked, ignoring acks of unlisted actors", () => {
    expect(rolloutProgress(["a", "b"], byActor(ack("a", 2), ack("b", 2), ack("z", 2)))).toEqual({
      _tag: "Served",
      acked: ["a", "b"],
      pending: []
    })
  })

  it("is refused by the first listed replica that could not load the version", () => {
    const refusal = ack("b", 2, false)
    expect(rolloutProgress(["a", "b"], byActor(ack("a", 2), refusal, ack("z", 2, false)))).toEqual({
      _tag: "Refused",
      ack: refusal
    })
  })

  it("at the timeout counts live replicas already on the version, and lists the live ones still behind", () => {
    const live = [
      { id: "a", version: 2 },
      { id: "b", version: 1 },
      { id: "d", version: 3 } // a replacement that started on a later version
    ]
    expect(settleAtTimeout(["a", "c"], live, 2)).toEqual({ _tag: "Served", acked: ["a", "c", "d"], pending: ["b"] })
  })
})

/** Runs `awaitRollout` under TestClock; `drive` offers acks and moves virtual time while it waits. */
const underTestClock = <A>(program: (acks: Queue.Queue<UpdateAck>) => Effect.Effect<A>): Promise<A> =>
  Effect.runPromise(
    Effect.gen(function* () {
      const acks = yield* Queue.unbounded<UpdateAck>()
      return yield* program(acks)
    }).pipe(Effect.provide(TestClock.layer()))
  )

describe("waiting for the acks (TestClock)", () => {
  /** Status that shows the listed replicas still on version 1. */
  const behind = (...ids: Array<string>) => Effect.succeed(ids.map((id) => ({ id, version: 1 })))

  it("returns as soon as every replica acked, counting acks queued before it started and skipping other versions", async () => {
    const outcome = await underTestClock((acks) =>
      Effect.gen(function* () {
        Queue.offerUnsafe(acks, ack("a", 1))
        Queue.offerUnsafe(acks, ack("a", 2))
        const fiber = yield* Effect.forkChild(awaitRollout(acks, ["a", "b"], 2, 30_000, behind("a", "b")))
        yield* TestClock.adjust(5_000)
        expect(fiber.pollUnsafe()).toBeUndefined()
        Queue.offerUnsafe(acks, ack("b", 2))
        return yield* Fiber.join(fiber)
      })
    )
    expect(outcome).toEqual({ _tag: "Served", acked: ["a", "b"], pending: [] })
  })

  it("lists the replicas again when the first listing found none, and waits for their acks", async () => {
    let looks = 0
    // the first gather reached no supervisor; the next ones find a and b
    const flaky = Effect.sync(() =>
      looks++ === 0
        ? []
        : [
            { id: "a", version: 1 },
            { id: "b", version: 1 }
          ]
    )
    const outcome = await underTestClock((acks) =>
      Effect.gen(function* () {
        const first = yield* flaky
        const fiber = yield* Effect.forkChild(
          awaitRollout(
            acks,
            first.map((a) => a.id),
            2,
            30_000,
            flaky
          )
        )
        Queue.offerUnsafe(acks, ack("a", 2))
        yield* TestClock.adjust(1_000)
        expect(fiber.pollUnsafe()).toBeUndefined()
        Queue.offerUnsafe(acks, ack("b", 2))
        return yield* Fiber.join(fiber)
      })
    )
    expect(outcome).toEqual({ _tag: "Served", acked: ["a", "b"], pending: [] })
  })

  it("lists the replicas that ack while no listing finds any (their supervisor reconnecting), and waits for none that does not", async () => {
    const outcome = await underTestClock((acks) =>
      Effect.gen(function* () {
        // every gather reaches no supervisor; the replicas' acks are the only word of them
        const fiber = yield* Effect.forkChild(awaitRollout(acks, [], 2, 30_000, Effect.succeed([])))
        yield* TestClock.adjust(300)
        Queue.offerUnsafe(acks, ack("a", 2))
        yield* TestClock.adjust(300)
        Queue.offerUnsafe(acks, ack("b", 2))
        Queue.offerUnsafe(acks, ack("c", 1))
        yield* TestClock.adjust(400)
        return yield* Fiber.join(fiber)
      })
    )
    expect(outcome).toEqual({ _tag: "Served", acked: ["a", "b"], pending: [] })
  })

  it("counts an ack from a replica the listing missed while it waits for the listed ones", async () => {
    const outcome = await underTestClock((acks) =>
      Effect.gen(function* () {
        const fiber = yield* Effect.forkChild(awaitRollout(acks, ["a"], 2, 30_000, behind("a")))
        Queue.offerUnsafe(acks, ack("c", 2))
        yield* TestClock.adjust(5_000)
        expect(fiber.pollUnsafe()).toBeUndefined()
        Queue.offerUnsafe(acks, ack("a", 2))
        return yield* Fiber.join(fiber)
      })
    )
    expect(outcome).toEqual({ _tag: "Served", acked: ["a", "c"], pending: [] })
  })

  it("waits for a replica the first listing missed that status shows behind when the listed ones are served", async () => {
    const outcome = await underTestClock((acks) =>
      Effect.gen(function* () {
        Queue.offerUnsafe(acks, ack("a", 2))
        // "c" was not in the first listing (its supervisor had not answered); status now shows it on version 1
        const fiber = yield* Effect.forkChild(awaitRollout(acks, ["a"], 2, 30_000, behind("a", "c")))
        yield* TestClock.adjust(5_000)
        expect(fiber.pollUnsafe()).toBeUndefined()
        Queue.offerUnsafe(acks, ack("c", 2))
        return yield* Fiber.join(fiber)
      })
    )
    expect(outcome).toEqual({ _tag: "Served", acked: ["a", "c"], pending: [] })
  })

  it("stops at the first refusal without waiting for the others", async () => {
    const outcome = await underTestClock((acks) =>
      Effect.gen(function* () {
        Queue.offerUnsafe(acks, ack("b", 7, false))
        return yield* awaitRollout(acks, ["a", "b", "c"], 7, 30_000, behind("a", "b", "c"))
      })
    )
    expect(outcome).toEqual({ _tag: "Refused", ack: ack("b", 7, false) })
  })

  it("gives up exactly at timeoutMs of Clock time, counting live replicas already on the version and listing those behind", async () => {
    let asked = 0
    const live = Effect.sync(() => {
      asked++
      return [
        { id: "a", version: 3 },
        { id: "b", version: 2 },
        { id: "c2", version: 3 }
      ]
    })
    const { before, exit } = await underTestClock((acks) =>
      Effect.gen(function* () {
        Queue.offerUnsafe(acks, ack("a", 3))
        const fiber = yield* Effect.forkChild(awaitRollout(acks, ["a", "b", "c"], 3, 10_000, live))
        yield* TestClock.adjust(9_999)
        const before = { done: fiber.pollUnsafe() !== undefined, asked }
        yield* TestClock.adjust(1)
        return { before, exit: yield* Fiber.await(fiber) }
      })
    )
    // asked after each quiet second (RECHECK_MS) while waiting, then once more at the timeout
    expect(before).toEqual({ done: false, asked: 9 })
    expect(exit).toEqual(Exit.succeed({ _tag: "Served", acked: ["a", "c2"], pending: ["b"] }))
  })

  it("counts a replica that started onto the version (it never acks) as soon as status shows it, long before the timeout", async () => {
    const { afterAck, exit } = await underTestClock((acks) =>
      Effect.gen(function* () {
        const live = Effect.succeed([
          { id: "a", version: 2 },
          { id: "scaled-up", version: 2 }
        ])
        const fiber = yield* Effect.forkChild(awaitRollout(acks, ["a", "scaled-up", "gone"], 2, 30_000, live))
        Queue.offerUnsafe(acks, ack("a", 2))
        yield* TestClock.adjust(500)
        const afterAck = fiber.pollUnsafe() !== undefined
        yield* TestClock.adjust(1_000)
        return { afterAck, exit: yield* Fiber.await(fiber) }
      })
    )
    expect(afterAck).toBe(false)
    expect(exit).toEqual(Exit.succeed({ _tag: "Served", acked: ["a", "scaled-up"], pending: [] }))
  })

  it("fails with status's own error when status fails at the timeout", async () => {
    const exit = await underTestClock((acks) =>
      Effect.gen(function* () {
        const fiber = yield* Effect.forkChild(awaitRollout(acks, ["a"], 2, 1_000, Effect.fail("status down" as const)))
        yield* TestClock.adjust(1_000)
        return yield* Fiber.await(fiber)
      })
    )
    expect(exit).toEqual(Exit.fail("status down"))
  })
})
