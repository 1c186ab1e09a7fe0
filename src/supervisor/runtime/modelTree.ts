// The process tree: a root supervisor whose children are the models' supervisors, whose children are
// the replicas. Every level runs the same interpreter; only how a child starts differs.
import { Effect, type Scope } from "effect"
import type { ActorLaunch } from "../../protocol/ipc.js"
import { type Config, type ModelConfig, modelSupervisorSpec, replicaSpec } from "../config.js"
import { failureError, type IntensityExceeded, StartFailed } from "../errors.js"
import type { Command, Event } from "../machine/eventsAndCommands.js"
import { ActorLauncher } from "./actorLauncher.js"
import { type ChildSignal, type EmitCommand, type StartChild, type Supervisor, startSupervisor } from "./interpreter.js"

export interface ModelTreeOptions {
  readonly config: Config
  /** The settings an actor process of `model` starts with, for child `childId` (e.g. `iris-2`). */
  readonly settingsOf: (model: ModelConfig, childId: string) => ActorLaunch
  /** A lifecycle event of `model`; `childId` names the replica (undefined for the model's supervisor). */
  readonly emit: (
    model: string,
    event: EmitCommand,
    pid: number | undefined,
    childId: string | undefined
  ) => Effect.Effect<void>
  /** Sees what incarnation `n` of replica `childId` of `model` signals (its reports and its exit), before its supervisor does. */
  readonly observe?: (model: string, childId: string, n: number, signal: ChildSignal) => void
  /** Sees each event a supervisor of the tree has handled (`root`, or a model's name) with its commands. */
  readonly onStep?: (supervisor: string, event: Event, commands: ReadonlyArray<Command>) => void
}

export interface ModelTree {
  readonly root: Supervisor
  /** The supervisor currently running `model`. */
  readonly model: (model: string) => Supervisor | undefined
  /** Completes once every replica of every model has served; fails if the tree could not start. */
  readonly started: Effect.Effect<void, StartFailed>
  /** Fails when the root stops supervising: it could not start, or it gave up (escalation ended). */
  readonly failure: Effect.Effect<never, StartFailed | IntensityExceeded>
}

/** Starts the tree; closing the scope stops the models in reverse order, each its replicas in reverse. */
export const startModelTree = Effect.fnUntraced(function* (
  options: ModelTreeOptions
): Effect.fn.Return<ModelTree, never, Scope.Scope | ActorLauncher> {
  const launcher = yield* ActorLauncher
  const { config, onStep } = options
  const running = new Map<string, Supervisor>()
  const stepsOf = (supervisor: string) =>
    onStep === undefined
      ? {}
      : { onStep: (event: Event, commands: ReadonlyArray<Command>) => onStep(supervisor, event, commands) }

  const startModel: StartChild = (spec, _n, signal) =>
    Effect.gen(function* () {
      const model = config.models.find((m) => m.name === spec.id)!
      const { observe } = options
      const startReplica: StartChild = (replica, n, replicaSignal) =>
        launcher.launch(
          options.settingsOf(model, replica.id),
          observe === undefined
            ? replicaSignal
            : (s) => {
                observe(model.name, replica.id, n, s)
                replicaSignal(s)
              }
        )
      const supervisor = yield* startSupervisor({
        name: model.name,
        label: `model ${model.name}`,
        flags: model.supervisor,
        children: Array.from({ length: model.replicas }, (_, i) => replicaSpec(model, i + 1)),
        template: (index) => replicaSpec(model, index),
        start: startReplica,
        emit: (event, pid) => options.emit(model.name, event, pid, event.id),
        ...stepsOf(model.name)
      })
      running.set(model.name, supervisor)
      yield* Effect.forkScoped(
        supervisor.started.pipe(
          Effect.andThen(Effect.sync(() => signal({ _tag: "Reported", report: { _tag: "Ready" } }))),
          Effect.ignore
        )
      )
      yield* Effect.forkScoped(
        supervisor.failed.pipe(
          Effect.flatMap((failure) => Effect.sync(() => signal({ _tag: "Exited", reason: failure })))
        )
      )
      return { pid: undefined, stop: () => supervisor.shutdown }
    })

  const root = yield* startSupervisor({
    name: "root",
    label: "root supervisor",
    flags: config.root,
    children: config.models.map(modelSupervisorSpec),
    start: startModel,
    // Every event of the root is about one model's supervisor (the root never scales).
    emit: (event, pid) => (event.id === undefined ? Effect.void : options.emit(event.id, event, pid, undefined)),
    ...stepsOf("root")
  })
  return {
    root,
    model: (model) => running.get(model),
    started: root.started.pipe(
      Effect.mapError((failure) => new StartFailed({ supervisor: "root", message: failure.message }))
    ),
    failure: root.failed.pipe(Effect.flatMap((failure) => Effect.fail(failureError("root", failure))))
  }
})
