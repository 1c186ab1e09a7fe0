// Starting the tree on TestClock: every replica of every model starts and serves; a model that can
// never start ends the tree at once with StartFailed naming it and the cause (defect 2).
import { Effect } from "effect"
import { describe, expect, it } from "vitest"
import { makeFakeLauncher } from "./fakeLauncher.js"
import { runTree, settle } from "./treeHarness.js"

describe("starting the tree", () => {
  it("starts every replica of every model, in order, and reports started once all serve", async () => {
    const fake = makeFakeLauncher()
    const result = await runTree(
      {
        models: [
          { name: "iris", path: "iris", replicas: 2 },
          { name: "cnn", path: "cnn" }
        ]
      },
      fake,
      ({ tree, events }) =>
        Effect.gen(function* () {
          yield* tree.started
          return {
            ids: fake.processes.map((p) => p.id),
            started: events.filter((e) => e.type === "started").map((e) => e.child)
          }
        })
    )
    expect(result.ids).toEqual(["iris-1@test", "iris-2@test", "cnn-1@test"])
    expect(result.started.sort()).toEqual(["cnn-1", "iris-1", "iris-2"])
  })

  it("a model that can never start fails the tree with StartFailed naming the model, replica and cause, and stops the others", async () => {
    const fake = makeFakeLauncher((s) => (s.model === "doomed" ? "failStart" : "ready"))
    const error = await runTree(
      {
        supervisor: { intensity: 10, period: 60 },
        models: [
          { name: "bystander", path: "ok" },
          { name: "doomed", path: "missing", supervisor: { intensity: 10 } }
        ]
      },
      fake,
      ({ tree }) => Effect.flip(tree.started).pipe(Effect.tap(() => settle))
    )
    expect(error._tag).toBe("StartFailed")
    expect(error.message).toBe(
      "model doomed could not start: replica doomed-1 failed to start: ModelLoadFailed: no model folder for doomed-1@test"
    )
    expect(fake.processes.filter((p) => p.id.startsWith("doomed"))).toHaveLength(1)
    expect(fake.processes.every((p) => !p.alive)).toBe(true)
  })
})
