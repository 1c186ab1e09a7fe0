// The standby pool on the real interpreter with fake processes and the TestClock: a ready standby takes
// a slot that needs a process, the pool refills, a dead standby is replaced after a backoff outside any
// model's restart intensity, and restarts, backoff and events are those of a supervisor without standbys.
import { Effect, Exit, Layer, Scope } from "effect"
import { TestClock } from "effect/testing"
import { describe, expect, it } from "vitest"
import { STANDBY_BACKOFF } from "../../../src/supervisor/machine/standbyPolicy.js"
import { makeStandbyPool } from "../../../src/supervisor/runtime/standbyPool.js"
import { makeFakeLauncher } from "./fakeLauncher.js"
import { advance, runTree, settle } from "./treeHarness.js"

const oneReplica = (standby: number) => ({ supervisor: { standby }, models: [{ name: "m", path: "m" }] })

describe("a slot that needs a process", () => {
  it("is taken by a ready standby (its pid), and the pool forks the next one once that process serves", async () => {
    const fake = makeFakeLauncher()
    const result = await runTree(oneReplica(1), fake, ({ tree, events, pool }) =>
      Effect.gen(function* () {
        yield* tree.started
        yield* settle
        const [standby] = fake.liveStandbys()
        fake.standbyReady(standby!)
        const rowsBefore = pool!.rows().map((r) => [r.id, r.pid, r.state, r.model, r.rssBytes])
        fake.crash(fake.current("m-1"))
        // the restart's backoff (a process that lived 0 ms: 100 ms ± 20 %)
        yield* advance(200)
        const next = fake.liveStandbys()
        return {
          rowsBefore,
          servedBy: fake.current("m-1").pid,
          standbyPid: standby!.pid,
          assignedTo: standby!.assignedTo,
          restarted: events.filter((e) => e.type === "restarted").map((e) => [e.child, e.pid, e.restarts]),
          started: events.filter((e) => e.type === "started").map((e) => e.pid),
          nextStandbys: next.map((s) => s.pid !== standby!.pid),
          rowsAfter: pool!.rows().map((r) => r.state)
        }
      })
    )
    expect(result).toEqual({
      rowsBefore: [["standby-1@test", result.standbyPid, "standby", "", 80 * 1024 * 1024]],
      servedBy: result.standbyPid,
      standbyPid: result.standbyPid,
      assignedTo: "m-1@test",
      restarted: [["m-1", result.standbyPid, 1]],
      started: [1000, result.standbyPid],
      nextStandbys: [true],
      rowsAfter: ["starting"]
    })
  })

  it("is forked afresh while no standby is ready, and the standby stays in the pool", async () => {
    const fake = makeFakeLauncher()
    const result = await runTree(oneReplica(1), fake, ({ tree, pool }) =>
      Effect.gen(function* () {
        yield* tree.started
        yield* settle
        const [standby] = fake.liveStandbys()
        fake.crash(fake.current("m-1"))
        yield* advance(200)
        return {
          fresh: fake.current("m-1").pid !== standby!.pid,
          standbyAssigned: standby!.assignedTo,
          rows: pool!.rows().map((r) => [r.pid === standby!.pid, r.state])
        }
      })
    )
    expect(result).toEqual({ fresh: true, standbyAssigned: undefined, rows: [[true, "starting"]] })
  })

  it("with standby 0 is always forked afresh", async () => {
    const fake = makeFakeLauncher()
    const result = await runTree(oneReplica(0), fake, ({ tree, pool }) =>
      Effect.gen(function* () {
        yield* tree.started
        fake.crash(fake.current("m-1"))
        yield* advance(200)
        return { pool, standbys: fake.standbys.length, processes: fake.processes.length }
      })
    )
    expect(result).toEqual({ pool: undefined, standbys: 0, processes: 2 })
  })

  it("takes ready standbys in turn when several slots need one (scale up), then forks", async () => {
    const fake = makeFakeLauncher()
    const result = await runTree({ supervisor: { standby: 2 }, models: [{ name: "m", path: "m" }] }, fake, ({ tree }) =>
      Effect.gen(function* () {
        yield* tree.started
        yield* settle
        const standbys = fake.liveStandbys()
        for (const s of standbys) fake.standbyReady(s)
        yield* tree.model("m")!.scale(4)
        yield* settle
        const pids = ["m-2", "m-3", "m-4"].map((id) => fake.current(id).pid)
        return {
          fromStandbys: pids.map((pid) => standbys.some((s) => s.pid === pid)),
          refilled: fake.liveStandbys().length
        }
      })
    )
    expect(result).toEqual({ fromStandbys: [true, true, false], refilled: 2 })
  })

  it("restarts, backoff, intensity and events are those of a supervisor without standbys", async () => {
    /** Crashes m-1 four times, each after its replacement served (intensity 3 within 10 s: the fourth gives up). */
    const scenario = (standby: number) => {
      const fake = makeFakeLauncher()
      // no jitter: the two runs draw their random numbers apart
      const config = {
        supervisor: { standby },
        models: [{ name: "m", path: "m", backoff: { jitter: 0 } }]
      }
      return runTree(config, fake, ({ tree, events }) =>
        Effect.gen(function* () {
          yield* tree.started
          yield* settle
          for (let i = 0; i < 4; i++) {
            for (const s of fake.liveStandbys()) fake.standbyReady(s)
            fake.crash(fake.current("m-1"))
            yield* advance(1_000)
          }
          return events.map((e) => [e.type, e.model, e.child, e.at, e.restarts, e.reason])
        })
      )
    }
    const [without, withStandby] = [await scenario(0), await scenario(1)]
    expect(withStandby).toEqual(without)
    expect(without.map((e) => e[0])).toContain("escalated")
  })
})

describe("standbys that die", () => {
  it("are replaced after 1 s, 2 s, 4 s … and never count against a model's restart intensity", async () => {
    const fake = makeFakeLauncher()
    const result = await runTree(oneReplica(1), fake, ({ tree, events }) =>
      Effect.gen(function* () {
        yield* tree.started
        yield* settle
        const replacedAfter: Array<number> = []
        for (let i = 0; i < 5; i++) {
          const [standby] = fake.liveStandbys()
          fake.crashStandby(standby!)
          yield* settle
          let waited = 0
          while (fake.liveStandbys().length === 0) {
            yield* advance(100)
            waited += 100
          }
          replacedAfter.push(waited)
        }
        return {
          replacedAfter,
          modelRestarts: tree.model("m")!.state().restarts.length,
          events: events.map((e) => e.type),
          serving: fake.live("m-1").length
        }
      })
    )
    const { initialMs, jitter } = STANDBY_BACKOFF
    result.replacedAfter.forEach((waited, i) => {
      const base = initialMs * 2 ** i
      expect(waited).toBeGreaterThanOrEqual(Math.floor((base * (1 - jitter)) / 100) * 100)
      expect(waited).toBeLessThanOrEqual(Math.ceil((base * (1 + jitter)) / 100) * 100)
    })
    expect(result).toMatchObject({ modelRestarts: 0, events: ["started"], serving: 1 })
  })

  it("is replaced at once after a long life", async () => {
    const fake = makeFakeLauncher()
    const replaced = await runTree(oneReplica(1), fake, ({ tree }) =>
      Effect.gen(function* () {
        yield* tree.started
        yield* settle
        yield* advance(STANDBY_BACKOFF.resetAfterMs)
        const [standby] = fake.liveStandbys()
        fake.standbyReady(standby!)
        fake.crashStandby(standby!)
        yield* settle
        return fake.liveStandbys().map((s) => s.pid !== standby!.pid)
      })
    )
    expect(replaced).toEqual([true])
  })

  it("a ready standby that stopped reporting is never handed a slot: it is killed and replaced", async () => {
    const fake = makeFakeLauncher()
    const result = await runTree(oneReplica(1), fake, ({ tree }) =>
      Effect.gen(function* () {
        yield* tree.started
        yield* settle
        const [standby] = fake.liveStandbys()
        fake.standbyReady(standby!)
        yield* advance(10_001)
        fake.crash(fake.current("m-1"))
        yield* settle
        yield* advance(STANDBY_BACKOFF.initialMs * 1.2)
        return {
          fresh: fake.current("m-1").pid !== standby!.pid,
          killedWith: standby!.stoppedWith,
          replaced: fake.liveStandbys().map((s) => s.pid !== standby!.pid)
        }
      })
    )
    expect(result).toEqual({ fresh: true, killedWith: "brutal_kill", replaced: [true] })
  })
})

describe("shutdown", () => {
  it("stops every standby gracefully and forks no more", async () => {
    const fake = makeFakeLauncher()
    const result = await Effect.runPromise(
      Effect.gen(function* () {
        const scope = yield* Scope.make()
        const pool = yield* makeStandbyPool({
          size: 2,
          settingsOf: (id) => ({ id, servers: "nats://test", prefix: "modelbus", heartbeatMs: 1000 }),
          actorId: (id) => id,
          shutdownMs: 3_000
        }).pipe(Scope.provide(scope))
        yield* pool.fill
        yield* settle
        const standbys = [...fake.liveStandbys()]
        fake.standbyReady(standbys[0]!)
        yield* Scope.close(scope, Exit.void)
        yield* advance(60_000)
        return {
          stoppedWith: standbys.map((s) => s.stoppedWith),
          alive: fake.liveStandbys().length,
          forked: fake.standbys.length,
          rows: pool.rows().length
        }
      }).pipe(Effect.provide(Layer.merge(TestClock.layer(), fake.layer)))
    )
    expect(result).toEqual({ stoppedWith: [3_000, 3_000], alive: 0, forked: 2, rows: 0 })
  })
})
