// The autoscaler's loop against the real tree and the in-memory launcher, on TestClock: replicas'
// heartbeats drive the model up after upscaleDelayMs and down after downscaleDelayMs through the
// scale path (the scaled event carries the decision), and the host budget holds growth and says so.
import { Effect } from "effect"
import { TestClock } from "effect/testing"
import { describe, expect } from "vitest"
import type { AutoscaleReport } from "../../../src/protocol/messages.js"
import { type ConfigFile, resolveConfig } from "../../../src/supervisor/config.js"
import { startAutoscalers } from "../../../src/supervisor/runtime/autoscaler.js"
import { it } from "../../helpers/effectVitest.js"
import { makeFakeLauncher } from "./fakeLauncher.js"
import { startTree } from "./treeHarness.js"

/** The tree of `file` and its autoscalers (alone on the bus: no peer reports), what they publish kept. */
const autoscaled = (file: ConfigFile) =>
  Effect.gen(function* () {
    const fake = makeFakeLauncher()
    const t = yield* startTree(file, fake)
    for (const model of file.models) yield* t.serving(model.name)
    const published: Array<AutoscaleReport> = []
    const scalers = yield* startAutoscalers({
      config: resolveConfig(file, "/models"),
      supervisorId: "test",
      supervisor: t.tree.model,
      holder: () => Effect.die(new Error("no model here scales to zero")),
      peers: () => Effect.succeed({ publish: (r) => void published.push(r), reports: () => [] }),
      backlog: () => Effect.die(new Error("no model here scales to zero"))
    })
    return { t, fake, scalers, published }
  })

const policy = { min: 1, max: 3, targetInflight: 1, upscaleDelayMs: 1_000, downscaleDelayMs: 5_000, lookbackMs: 400 }

describe("the autoscaler loop", () => {
  it.effect("scales up after upscaleDelayMs of load and down after downscaleDelayMs idle, through the scale path", () =>
    Effect.gen(function* () {
      const { t, fake, scalers, published } = yield* autoscaled({
        supervisor: { maxActors: 4 },
        models: [{ name: "m", path: "m", heartbeatMs: 100, autoscale: policy }]
      })
      yield* t.heartbeat(fake.current("m-1"), { inflight: 3, queued: 2 })
      // not yet: the trend must last upscaleDelayMs
      yield* TestClock.adjust(500)
      expect(t.events.filter((e) => e.type === "scaled")).toEqual([])
      yield* TestClock.adjust(1_000)
      const up = yield* t.emitted((e) => e.type === "scaled")
      expect(up).toMatchObject({ model: "m", replicas: 3, target: 3, observed: 3, decidedBy: "autoscale@test" })
      expect(up.reason).toContain("load above target")
      yield* t.serving("m")
      expect(scalers.status("m")).toMatchObject({ replicas: 3, target: 3, min: 1, max: 3 })
      expect(published.at(-1)).toMatchObject({ supervisor: "test", inflight: 3, target: 3 })
      // idle: down only after downscaleDelayMs below the target
      yield* t.heartbeat(fake.current("m-1"), { inflight: 0 })
      yield* TestClock.adjust(4_000)
      expect(t.events.filter((e) => e.type === "scaled")).toHaveLength(1)
      yield* TestClock.adjust(2_000)
      const down = yield* t.emitted((e) => e.type === "scaled" && e.replicas === 1)
      expect(down.reason).toContain("load below target")
      expect(
        t.tree
          .model("m")!
          .state()
          .children.map((c) => c.spec.id)
      ).toEqual(["m-1"])
    })
  )

  it.effect(
    "holds growth inside supervisor.maxActors, other models' replicas counted, and says which model wanted more",
    () =>
      Effect.gen(function* () {
        const { t, fake, scalers } = yield* autoscaled({
          supervisor: { maxActors: 3 },
          models: [
            { name: "fixed", path: "f", replicas: 1 },
            { name: "m", path: "m", heartbeatMs: 100, autoscale: policy }
          ]
        })
        yield* t.heartbeat(fake.current("m-1"), { inflight: 10 })
        yield* TestClock.adjust(1_500)
        const up = yield* t.emitted((e) => e.type === "scaled")
        expect(up).toMatchObject({ model: "m", replicas: 2, target: 3 })
        expect(up.reason).toContain("supervisor.maxActors 3 binds: wanted 1 more")
        expect(scalers.status("m")).toMatchObject({ replicas: 2, target: 3, wantedMore: 1 })
        expect(scalers.status("fixed")).toBeUndefined()
      })
  )
})
