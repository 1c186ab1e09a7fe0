// Starting the tree on TestClock: every replica of every model is forked at once (none waits for another
// to serve) and the tree has started once all serve; a model that can never start ends the tree at once
// with StartFailed naming it and the cause.
import { Effect } from "effect"
import { describe, expect } from "vitest"
import { it } from "../../helpers/effectVitest.js"
import { makeFakeLauncher } from "./fakeLauncher.js"
import { startTree } from "./treeHarness.js"

describe("starting the tree", () => {
  it.effect("forks every replica of every model in start order before any serves, and has started once all serve", () =>
    Effect.gen(function* () {
      const fake = makeFakeLauncher(() => "silent")
      const { tree, events, ready } = yield* startTree(
        {
          models: [
            { name: "iris", path: "iris", replicas: 2 },
            { name: "cnn", path: "cnn" }
          ]
        },
        fake
      )
      yield* fake.until(() => fake.processes.length === 3)
      expect(fake.processes.map((p) => p.id)).toEqual(["iris-1@test", "iris-2@test", "cnn-1@test"])
      expect(events.filter((e) => e.type === "started")).toEqual([])
      // they serve in any order: the last one (started first) completes the start
      yield* ready(fake.current("cnn-1"))
      yield* ready(fake.current("iris-2"))
      expect(tree.root.state().phase).toBe("starting")
      yield* ready(fake.current("iris-1"))
      yield* tree.started
      expect(events.filter((e) => e.type === "started").map((e) => e.child)).toEqual(["cnn-1", "iris-2", "iris-1"])
    })
  )

  it.effect(
    "a model that can never start fails the tree with StartFailed naming the model, replica and cause, and stops the others",
    () =>
      Effect.gen(function* () {
        const fake = makeFakeLauncher((s) => (s.model === "doomed" ? "failStart" : "ready"))
        const { tree } = yield* startTree(
          {
            supervisor: { intensity: 10, period: 60 },
            models: [
              { name: "bystander", path: "ok" },
              { name: "doomed", path: "missing", supervisor: { intensity: 10 } }
            ]
          },
          fake
        )
        const error = yield* Effect.flip(tree.started)
        expect(error._tag).toBe("StartFailed")
        expect(error.message).toBe(
          "model doomed could not start: replica doomed-1 failed to start: ModelLoadFailed: no model folder for doomed-1@test"
        )
        expect(fake.processes.filter((p) => p.id.startsWith("doomed"))).toHaveLength(1)
        expect(fake.processes.filter((p) => p.alive)).toEqual([])
      })
  )
})
