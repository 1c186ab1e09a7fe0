// Runs the real supervision tree (root, model supervisors, the one interpreter) against the fake launcher
// in an `it.effect` test on TestClock, with a standby pool when the config sets `supervisor.standby`. It
// records what the tree emits, handles and logs, so a test awaits the very step its action caused.
import { Clock, Deferred, Effect, Logger, type Scope } from "effect"
import type { ActorCounters } from "../../../src/protocol/ipc.js"
import type { LifecycleEventType } from "../../../src/protocol/messages.js"
import { type ConfigFile, resolveConfig } from "../../../src/supervisor/config.js"
import type { ExitReason } from "../../../src/supervisor/machine/childSpec.js"
import type { ChildReport, Command, EmitFields, Event } from "../../../src/supervisor/machine/eventsAndCommands.js"
import { ActorLauncher } from "../../../src/supervisor/runtime/actorLauncher.js"
import { type ModelTree, startModelTree } from "../../../src/supervisor/runtime/modelTree.js"
import { makeStandbyPool, type StandbyPool } from "../../../src/supervisor/runtime/standbyPool.js"
import { counters, type FakeLauncher, type FakeProcess, makeFakeLauncher } from "./fakeLauncher.js"

export interface Emitted extends EmitFields {
  readonly type: LifecycleEventType
  readonly model: string
  /** The replica (`iris-2`), or undefined for an event about a model's supervisor. */
  readonly child: string | undefined
  readonly pid: number | undefined
  /** TestClock time of the event, in ms. */
  readonly at: number
}

/** An event a supervisor of the tree handled (`root`, or a model's name), with the commands it carried out. */
export interface Step {
  readonly supervisor: string
  readonly event: Event
  readonly commands: ReadonlyArray<Command>
}

/** Items in arrival order; `find` waits for the first one from index `since` on that `match` accepts. */
const makeRecord = <A>() => {
  const items: Array<A> = []
  const waiters = new Set<{
    readonly since: number
    readonly match: (a: A) => boolean
    readonly done: Deferred.Deferred<A>
  }>()
  return {
    items: items as ReadonlyArray<A>,
    add: (item: A) => {
      items.push(item)
      for (const waiter of waiters) {
        if (items.length - 1 < waiter.since || !waiter.match(item)) continue
        waiters.delete(waiter)
        Deferred.doneUnsafe(waiter.done, Effect.succeed(item))
      }
    },
    find: (match: (a: A) => boolean, since = 0): Effect.Effect<A> =>
      Effect.suspend(() => {
        const found = items.slice(since).find(match)
        if (found !== undefined) return Effect.succeed(found)
        const done = Deferred.makeUnsafe<A>()
        waiters.add({ since, match, done })
        return Deferred.await(done)
      })
  }
}

export interface Tree {
  readonly tree: ModelTree
  readonly fake: FakeLauncher
  /** The pool, when the config sets `supervisor.standby` above 0 (its first standbys are forked once the tree started). */
  readonly pool: StandbyPool | undefined
  readonly events: ReadonlyArray<Emitted>
  readonly steps: ReadonlyArray<Step>
  readonly logs: ReadonlyArray<string>
  /** The first lifecycle event from index `since` on that `match` accepts, once it is emitted. */
  readonly emitted: (match: (event: Emitted) => boolean, since?: number) => Effect.Effect<Emitted>
  /** The first step of `supervisor` from index `since` on whose event `match` accepts, once it is handled. */
  readonly handled: (supervisor: string, match: (event: Event) => boolean, since?: number) => Effect.Effect<Step>
  /** The first log line from index `since` on that `match` accepts, once it is logged. */
  readonly logged: (match: (line: string) => boolean, since?: number) => Effect.Effect<string>
  /** Completes once `holds()` is true: at once, or after the step of `supervisor` that made it so. */
  readonly when: (supervisor: string, holds: () => boolean) => Effect.Effect<void>
  /** Completes once `holds()` is true: at once, or after the event of the standby pool that made it so. */
  readonly poolWhen: (holds: () => boolean) => Effect.Effect<void>
  /** Completes once the standby pool holds `count` standbys (starting or ready). */
  readonly pooled: (count: number) => Effect.Effect<void>
  /** Completes once every child of `model`'s supervisor has a serving process. */
  readonly serving: (model: string) => Effect.Effect<void>
  /** Ends `process` (SIGKILL unless `reason` says otherwise); completes with the step that handled its exit. */
  readonly crash: (process: FakeProcess, reason?: ExitReason) => Effect.Effect<Step>
  /** `process` reports; completes with the step that handled the report. */
  readonly report: (process: FakeProcess, report: ChildReport) => Effect.Effect<Step>
  readonly ready: (process: FakeProcess, over?: Partial<ActorCounters>) => Effect.Effect<Step>
  readonly heartbeat: (process: FakeProcess, over?: Partial<ActorCounters>) => Effect.Effect<Step>
}

const alive = (process: FakeProcess) =>
  process.alive ? Effect.void : Effect.die(new Error(`${process.id} (pid ${process.pid}) is not alive`))

/** Starts the tree of `file` in the test's scope; fake processes send no heartbeat, so no hang timeout unless a model sets one. */
export const startTree = Effect.fnUntraced(function* (
  file: ConfigFile,
  fake: FakeLauncher = makeFakeLauncher()
): Effect.fn.Return<Tree, never, Scope.Scope> {
  const config = resolveConfig(
    { ...file, models: file.models.map((m) => ({ hangTimeoutMs: 86_400_000, ...m })) },
    "/models"
  )
  const events = makeRecord<Emitted>()
  const steps = makeRecord<Step>()
  const logs = makeRecord<string>()
  const poolSteps = makeRecord<{ readonly event: "Start" | "Died" | "Adopted"; readonly slot: string }>()
  const logger = Logger.make(({ message }) => {
    logs.add((Array.isArray(message) ? message : [message]).map(String).join(" "))
  })
  const setUp = Effect.gen(function* () {
    const pool =
      (file.supervisor?.standby ?? 0) === 0
        ? undefined
        : yield* makeStandbyPool({
            size: config.standby,
            settingsOf: (id) => ({ id: `${id}@test`, servers: "nats://test", prefix: "modelbus", heartbeatMs: 1000 }),
            actorId: (id) => `${id}@test`,
            onStep: (event, slot) => poolSteps.add({ event, slot })
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
          Effect.sync(() => events.add({ type: event.type, model, child, pid, at, ...event.fields }))
        ),
      onStep: (supervisor, event, commands) => steps.add({ supervisor, event, commands })
    }).pipe(Effect.provideService(ActorLauncher, launcher))
    if (pool !== undefined) yield* Effect.forkScoped(tree.started.pipe(Effect.andThen(pool.fill), Effect.ignore))
    return { tree, pool }
  })
  const { tree, pool } = yield* setUp.pipe(Effect.provide(fake.layer), Effect.provide(Logger.layer([logger])))

  const handled = (supervisor: string, match: (event: Event) => boolean, since?: number) =>
    steps.find((step) => step.supervisor === supervisor && match(step.event), since)
  const when = (supervisor: string, holds: () => boolean) =>
    Effect.suspend(() =>
      holds() ? Effect.void : steps.find((step) => step.supervisor === supervisor && holds()).pipe(Effect.asVoid)
    )
  const poolWhen = (holds: () => boolean) =>
    Effect.suspend(() => (holds() ? Effect.void : poolSteps.find(() => holds()).pipe(Effect.asVoid)))
  /** Does `act` to `process`, then awaits the step of its supervisor that handled `event` of its child. */
  const acting = (process: FakeProcess, act: () => void, tag: Event["_tag"]) =>
    alive(process).pipe(
      Effect.andThen(
        Effect.suspend(() => {
          const since = steps.items.length
          act()
          return handled(process.model, (e) => e._tag === tag && "id" in e && e.id === process.child, since)
        })
      )
    )
  const report = (process: FakeProcess, report: ChildReport) =>
    acting(process, () => process.signal({ _tag: "Reported", report }), "Reported")

  return {
    tree,
    fake,
    pool,
    events: events.items,
    steps: steps.items,
    logs: logs.items,
    emitted: events.find,
    handled,
    logged: logs.find,
    when,
    poolWhen,
    pooled: (count) => poolWhen(() => (pool?.rows().length ?? 0) === count),
    serving: (model) =>
      when(
        model,
        () =>
          tree
            .model(model)
            ?.state()
            .children.every((c) => c.primary?.state === "serving") === true
      ),
    crash: (process, reason = { kind: "signal", signal: "SIGKILL" }) =>
      acting(process, () => fake.crash(process, reason), "Exited"),
    report,
    ready: (process, over = {}) => report(process, { _tag: "Ready", loadMs: 20, counters: counters(over) }),
    heartbeat: (process, over = {}) =>
      report(process, { _tag: "Heartbeat", state: "serving", counters: counters(over) })
  }
})
