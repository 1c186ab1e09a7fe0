// The standby pool on the real interpreter with fake processes and the TestClock: a ready standby takes
// a slot that needs a process, the pool refills, a dead standby is replaced after a backoff outside any
// model's restart intensity, and restarts, backoff and events are those of a supervisor without standbys.
import { Clock, Effect, Exit, Queue, Scope } from "effect"
import { TestClock } from "effect/testing"
import { describe, expect } from "vitest"
import { STANDBY_BACKOFF } from "../../../src/supervisor/machine/standbyPolicy.js"
import { makeStandbyPool } from "../../../src/supervisor/runtime/standbyPool.js"
import { it } from "../../helpers/effectVitest.js"
import { makeFakeLauncher } from "./fakeLauncher.js"
import { startTree } from "./treeHarness.js"

const oneReplica = (standby: number) => ({ supervisor: { standby }, models: [{ name: "m", path: "m" }] })

/** The delay a "replaced in N ms" log line announces. */
const announcedDelay = (line: string) => Number(/replaced in (\d+) ms/.exec(line)?.[1])

describe("a slot that needs a process", () => {
  it.effect("is taken by a ready standby (its pid), and the pool forks the next one once that process serves", () =>
    Effect.gen(function* () {
      const { tree, fake, events, pool, crash, pooled } = yield* startTree(oneReplica(1))
      yield* tree.started
      yield* pooled(1)
      const [standby] = fake.liveStandbys()
      fake.standbyReady(standby!)
      expect(pool!.rows().map((r) => [r.id, r.pid, r.state, r.model, r.rssBytes])).toEqual([
        ["standby-1@test", standby!.pid, "standby", "", 80 * 1024 * 1024]
      ])
      yield* crash(fake.current("m-1"))
      // the restart's backoff (a process that lived 0 ms: 100 ms ± 20 %)
      yield* TestClock.adjust(200)
      expect(fake.current("m-1").pid).toBe(standby!.pid)
      expect(standby!.assignedTo).toBe("m-1@test")
      expect(events.filter((e) => e.type === "restarted").map((e) => [e.child, e.pid, e.restarts])).toEqual([
        ["m-1", standby!.pid, 1]
      ])
      expect(events.filter((e) => e.type === "started").map((e) => e.pid)).toEqual([1000, standby!.pid])
      expect(fake.liveStandbys().map((s) => s.pid !== standby!.pid)).toEqual([true])
      expect(pool!.rows().map((r) => r.state)).toEqual(["starting"])
    })
  )

  it.effect("is forked afresh while no standby is ready, and the standby stays in the pool", () =>
    Effect.gen(function* () {
      const { tree, fake, pool, crash, pooled } = yield* startTree(oneReplica(1))
      yield* tree.started
      yield* pooled(1)
      const [standby] = fake.liveStandbys()
      yield* crash(fake.current("m-1"))
      yield* TestClock.adjust(200)
      expect(fake.current("m-1").pid).not.toBe(standby!.pid)
      expect(standby!.assignedTo).toBeUndefined()
      expect(pool!.rows().map((r) => [r.pid === standby!.pid, r.state])).toEqual([[true, "starting"]])
    })
  )

  it.effect("with standby 0 is always forked afresh", () =>
    Effect.gen(function* () {
      const { tree, fake, pool, crash } = yield* startTree(oneReplica(0))
      yield* tree.started
      yield* crash(fake.current("m-1"))
      yield* TestClock.adjust(200)
      expect({ pool, standbys: fake.standbys.length, processes: fake.processes.length }).toEqual({
        pool: undefined,
        standbys: 0,
        processes: 2
      })
    })
  )

  it.effect("takes ready standbys in turn when several slots need one (scale up), then forks", () =>
    Effect.gen(function* () {
      const { tree, fake, pooled } = yield* startTree({
        supervisor: { standby: 2 },
        models: [{ name: "m", path: "m" }]
      })
      yield* tree.started
      yield* pooled(2)
      const standbys = fake.liveStandbys()
      for (const s of standbys) fake.standbyReady(s)
      yield* tree.model("m")!.scale(4)
      const pids = ["m-2", "m-3", "m-4"].map((id) => fake.current(id).pid)
      expect(pids.map((pid) => standbys.some((s) => s.pid === pid))).toEqual([true, true, false])
      // the two it took are replaced once their processes serve
      yield* pooled(2)
      expect(fake.liveStandbys().filter((s) => standbys.includes(s))).toEqual([])
    })
  )

  it.effect("restarts, backoff, intensity and events are those of a supervisor without standbys", () =>
    Effect.gen(function* () {
      /** Crashes m-1 four times, each after its replacement served (intensity 3 within 10 s: the fourth gives up). */
      const scenario = (standby: number) =>
        Effect.gen(function* () {
          // both runs share the test's clock: event times are taken from the start of each
          const startedAt = yield* Clock.currentTimeMillis
          // no jitter: the two runs draw their random numbers apart
          const { tree, fake, events, crash, pooled } = yield* startTree({
            supervisor: { standby },
            models: [{ name: "m", path: "m", backoff: { jitter: 0 } }]
          })
          yield* tree.started
          yield* pooled(standby)
          for (let i = 0; i < 4; i++) {
            for (const s of fake.liveStandbys()) fake.standbyReady(s)
            yield* crash(fake.current("m-1"))
            yield* TestClock.adjust(1_000)
          }
          return events.map((e) => [e.type, e.model, e.child, e.at - startedAt, e.restarts, e.reason])
        }).pipe(Effect.scoped)
      const without = yield* scenario(0)
      const withStandby = yield* scenario(1)
      expect(withStandby).toEqual(without)
      expect(without.map((e) => e[0])).toContain("escalated")
    })
  )
})

describe("standbys that die", () => {
  it.effect("are replaced after 1 s, 2 s, 4 s … and never count against a model's restart intensity", () =>
    Effect.gen(function* () {
      const { tree, fake, events, logs, logged, pooled } = yield* startTree(oneReplica(1))
      yield* tree.started
      yield* pooled(1)
      const { initialMs, jitter } = STANDBY_BACKOFF
      for (let i = 0; i < 5; i++) {
        const since = logs.length
        fake.crashStandby(fake.liveStandbys()[0]!)
        const delayMs = announcedDelay(yield* logged((line) => line.includes("replaced in"), since))
        const base = initialMs * 2 ** i
        expect(delayMs).toBeGreaterThanOrEqual(base * (1 - jitter))
        expect(delayMs).toBeLessThanOrEqual(base * (1 + jitter))
        yield* TestClock.adjust(delayMs - 1)
        expect(fake.liveStandbys()).toEqual([])
        yield* TestClock.adjust(1)
        expect(fake.liveStandbys()).toHaveLength(1)
      }
      expect(tree.model("m")!.state().restarts).toEqual([])
      expect(events.map((e) => e.type)).toEqual(["started"])
      expect(fake.live("m-1")).toHaveLength(1)
    })
  )

  it.effect("is replaced at once after a long life", () =>
    Effect.gen(function* () {
      const { tree, fake, logs, logged, pooled } = yield* startTree(oneReplica(1))
      yield* tree.started
      yield* pooled(1)
      yield* TestClock.adjust(STANDBY_BACKOFF.resetAfterMs)
      const [standby] = fake.liveStandbys()
      fake.standbyReady(standby!)
      const since = logs.length
      fake.crashStandby(standby!)
      expect(announcedDelay(yield* logged((line) => line.includes("replaced in"), since))).toBe(0)
      yield* pooled(1)
      expect(fake.liveStandbys()[0]!.pid).not.toBe(standby!.pid)
    })
  )

  it.effect("a ready standby that stopped reporting is never handed a slot: it is killed and replaced", () =>
    Effect.gen(function* () {
      const { tree, fake, logs, logged, crash, pooled } = yield* startTree(oneReplica(1))
      yield* tree.started
      yield* pooled(1)
      const [standby] = fake.liveStandbys()
      fake.standbyReady(standby!)
      yield* TestClock.adjust(10_001)
      const since = logs.length
      yield* crash(fake.current("m-1"))
      yield* TestClock.adjust(200) // the restart's backoff: the slot asks the pool for a process
      expect(fake.current("m-1").pid).not.toBe(standby!.pid)
      expect(standby!.stoppedWith).toBe("brutal_kill")
      const delayMs = announcedDelay(yield* logged((line) => line.includes("replaced in"), since))
      yield* TestClock.adjust(delayMs)
      expect(fake.liveStandbys().map((s) => s.pid !== standby!.pid)).toEqual([true])
    })
  )
})

describe("shutdown", () => {
  it.effect("stops every standby gracefully and forks no more", () =>
    Effect.gen(function* () {
      const fake = makeFakeLauncher()
      const scope = yield* Scope.make()
      const filled = yield* Queue.unbounded<string>()
      const pool = yield* makeStandbyPool({
        size: 2,
        settingsOf: (id) => ({ id, servers: "nats://test", prefix: "modelbus", heartbeatMs: 1000 }),
        actorId: (id) => id,
        shutdownMs: 3_000,
        onStep: (event, slot) => {
          if (event === "Start") Queue.offerUnsafe(filled, slot)
        }
      }).pipe(Scope.provide(scope), Effect.provide(fake.layer))
      yield* pool.fill
      expect([yield* Queue.take(filled), yield* Queue.take(filled)]).toEqual(["standby-1", "standby-2"])
      const standbys = [...fake.liveStandbys()]
      fake.standbyReady(standbys[0]!)
      yield* Scope.close(scope, Exit.void)
      yield* TestClock.adjust(60_000)
      expect({
        stoppedWith: standbys.map((s) => s.stoppedWith),
        alive: fake.liveStandbys().length,
        forked: fake.standbys.length,
        rows: pool.rows().length
      }).toEqual({ stoppedWith: [3_000, 3_000], alive: 0, forked: 2, rows: 0 })
    })
  )
})
