// Runs the real supervision tree (root, model supervisors, the one interpreter) on Effect's TestClock
// against the fake launcher, collecting the lifecycle events it emits; with a standby pool when the
// config sets `supervisor.standby`.
import { Clock, Effect, Layer } from "effect"
import { TestClock } from "effect/testing"
import type { LifecycleEventType } from "../../../src/protocol/messages.js"
import { type ConfigFile, resolveConfig } from "../../../src/supervisor/config.js"
import type { EmitFields } from "../../../src/supervisor/machine/eventsAndCommands.js"
import { ActorLauncher } from "../../../src/supervisor/runtime/actorLauncher.js"
import { type ModelTree, startModelTree } from "../../../src/supervisor/runtime/modelTree.js"
import { makeStandbyPool, type StandbyPool } from "../../../src/supervisor/runtime/standbyPool.js"
import type { FakeLauncher } from "./fakeLauncher.js"

export interface Emitted extends EmitFields {
  readonly type: LifecycleEventType
  readonly model: string
  /** The replica (`iris-2`), or undefined for an event about a model's supervisor. */
  readonly child: string | undefined
  readonly pid: number | undefined
  /** TestClock time of the event, in ms. */
  readonly at: number
}

export interface Harness {
  readonly tree: ModelTree
  readonly events: Array<Emitted>
  readonly fake: FakeLauncher
  /** The pool, when the config sets `supervisor.standby` above 0 (its first standbys are forked once the tree started). */
  readonly pool: StandbyPool | undefined
}

/** Lets every fiber that can run do so (the mailboxes drain) without moving the clock. */
export const settle = Effect.gen(function* () {
  for (let i = 0; i < 50; i++) yield* Effect.yieldNow
})

/** Moves the TestClock forward by `ms`, then settles. */
export const advance = (ms: number) => TestClock.adjust(ms).pipe(Effect.andThen(settle))

export const runTree = <A, E>(
  file: ConfigFile,
  fake: FakeLauncher,
  body: (harness: Harness) => Effect.Effect<A, E>
): Promise<A> =>
  Effect.runPromise(
    Effect.scoped(
      Effect.gen(function* () {
        // Fake processes send no heartbeat unless a test says so: no hang detection unless a model asks for it.
        const config = resolveConfig(
          { ...file, models: file.models.map((m) => ({ hangTimeoutMs: 86_400_000, ...m })) },
          "/models"
        )
        const events: Array<Emitted> = []
        const pool =
          (file.supervisor?.standby ?? 0) === 0
            ? undefined
            : yield* makeStandbyPool({
                size: config.standby,
                settingsOf: (id) => ({
                  id: `${id}@test`,
                  servers: "nats://test",
                  prefix: "modelbus",
                  heartbeatMs: 1000
                }),
                actorId: (id) => `${id}@test`
              })
        const launcher = pool?.launcher ?? (yield* ActorLauncher)
        const tree = yield* startModelTree({
          config,
          settingsOf: (model, childId) => ({
            id: `${childId}@test`,
            model: model.name,
            path: model.path,
            servers: "nats://test",
            prefix: "modelbus",
            version: 1,
            heartbeatMs: model.heartbeatMs
          }),
          emit: (model, event, pid, child) =>
            Effect.flatMap(Clock.currentTimeMillis, (at) =>
              Effect.sync(() => events.push({ type: event.type, model, child, pid, at, ...event.fields }))
            )
        }).pipe(Effect.provideService(ActorLauncher, launcher))
        if (pool !== undefined) yield* Effect.forkScoped(tree.started.pipe(Effect.andThen(pool.fill), Effect.ignore))
        yield* settle
        return yield* body({ tree, events, fake, pool })
      })
    ).pipe(Effect.provide(Layer.merge(TestClock.layer(), fake.layer)))
  )
