// The root of the process tree: one ModelSupervisor per configured model, started in order and
// stopped in reverse; a model supervisor that gives up is restarted by the root's OTP policy.
import { hostname } from "node:os"
import { Deferred, Effect, Exit, Fiber, Queue, Scope } from "effect"
import { natsConnection } from "../nats/connection.js"
import { hasJetStream } from "../nats/jetstream.js"
import type { ConnectionError } from "../protocol/errors.js"
import type { LifecycleEvent, SupervisorNode, SupervisorStatus } from "../protocol/messages.js"
import { subjects } from "../protocol/subjects.js"
import type { Config, ModelConfig } from "./config.js"
import { answerControl } from "./control.js"
import { recordRestart } from "./intensity.js"
import {
  IntensityExceeded,
  type ModelSupervisor,
  type SupervisorContext,
  startModelSupervisor
} from "./ModelSupervisor.js"
import { childrenToRestart } from "./strategy.js"

export interface SupervisorTree {
  readonly id: string
  readonly status: () => SupervisorStatus
  /** The model supervisor currently running `model`, if any. */
  readonly model: (model: string) => ModelSupervisor | undefined
  /** Completes once every replica of every model has served. */
  readonly serving: Effect.Effect<void>
  /** Fails when the root gives up: model supervisors failed more often than its intensity allows. */
  readonly failure: Effect.Effect<never, IntensityExceeded>
}

interface ModelChild {
  readonly config: ModelConfig
  scope: Scope.Closeable | undefined
  supervisor: ModelSupervisor | undefined
  generation: number
  escalations: number
}

const newSupervisorId = () => Math.random().toString(36).slice(2, 8).padEnd(6, "0")

/** Starts the tree; closing the scope drains every actor and disconnects. */
export const startSupervisorTree = Effect.fn("SupervisorTree.start")(function* (
  config: Config,
  servers: string | ReadonlyArray<string>
): Effect.fn.Return<SupervisorTree, ConnectionError, Scope.Scope> {
  const id = newSupervisorId()
  const runInContext = Effect.runSyncWith(yield* Effect.context<never>())
  const startedAt = Date.now()
  const subject = subjects(config.prefix)
  const nc = yield* natsConnection({ servers, name: `modelbus-supervisor ${id}` })
  const encoder = new TextEncoder()
  const failed = yield* Deferred.make<never, IntensityExceeded>()
  const mailbox = yield* Queue.unbounded<{
    readonly child: ModelChild
    readonly generation: number
    readonly error: IntensityExceeded
  }>()
  let rootWindow: ReadonlyArray<number> = []

  const registryEnabled = config.registry.mode === "auto" && (yield* hasJetStream(nc))
  if (!registryEnabled) {
    yield* Effect.logWarning(
      config.registry.mode === "off"
        ? "registry off: actors serve their config path; updates are disabled"
        : "JetStream is not available on this NATS server: actors serve their config path; updates need nats-server -js"
    )
  }
  const contextOf = (model: string): SupervisorContext => ({
    supervisorId: id,
    servers,
    prefix: config.prefix,
    registry: { enabled: registryEnabled, retention: config.registry.retention },
    emit: (type, fields) => {
      const event: LifecycleEvent = { type, model, supervisor: id, at: Date.now(), ...fields }
      if (!nc.isClosed()) nc.publish(subject.events(model), encoder.encode(JSON.stringify(event)))
      runInContext(Effect.logInfo(`${type} ${model}`).pipe(Effect.annotateLogs({ ...fields, event: type, model })))
    }
  })
  const children: Array<ModelChild> = config.models.map((m) => ({
    config: m,
    scope: undefined,
    supervisor: undefined,
    generation: 0,
    escalations: 0
  }))

  const startChild = Effect.fnUntraced(function* (child: ModelChild) {
    const scope = yield* Scope.make()
    const generation = ++child.generation
    const supervisor = yield* startModelSupervisor(child.config, contextOf(child.config.name)).pipe(
      Scope.provide(scope)
    )
    yield* Effect.forkIn(
      supervisor.failure.pipe(Effect.catch((error) => Queue.offer(mailbox, { child, generation, error }))),
      scope
    )
    child.scope = scope
    child.supervisor = supervisor
  })

  const stopChild = (child: ModelChild) =>
    Effect.suspend(() => {
      const scope = child.scope
      child.scope = child.supervisor = undefined
      return scope === undefined ? Effect.void : Scope.close(scope, Exit.void)
    })
  const stopAll = (order: ReadonlyArray<ModelChild>) =>
    Effect.forEach([...order].reverse(), stopChild, { discard: true })

  const onChildFailed = Effect.fnUntraced(function* (child: ModelChild, error: IntensityExceeded) {
    contextOf(child.config.name).emit("escalated", { reason: error.message })
    const decision = recordRestart(rootWindow, Date.now(), config.root)
    rootWindow = decision.window
    if (decision.exceeded) {
      yield* stopAll(children)
      const message = `root supervisor gave up: more than ${config.root.intensity} model supervisor restarts within ${config.root.periodMs / 1000} s (last: ${error.message})`
      yield* Effect.logError(message)
      return yield* Deferred.fail(failed, new IntensityExceeded({ supervisor: "root", message }))
    }
    child.escalations++
    const names = children.map((c) => c.config.name)
    const restarting = childrenToRestart(config.root.strategy, names, child.config.name).map(
      (n) => children.find((c) => c.config.name === n)!
    )
    yield* stopAll(restarting)
    for (const c of restarting) {
      yield* startChild(c)
      contextOf(c.config.name).emit("restarted", {
        reason: `model supervisor restarted by the root (${config.root.strategy}) after ${child.config.name} gave up`
      })
    }
  })

  yield* Effect.addFinalizer(() =>
    Effect.logInfo(`supervisor ${id} stopping: draining every actor`).pipe(
      Effect.andThen(stopAll(children)),
      Effect.andThen(Effect.logInfo(`supervisor ${id} stopped`))
    )
  )
  for (const child of children) yield* startChild(child)
  const loop = yield* Effect.forkScoped(
    Queue.take(mailbox).pipe(
      Effect.flatMap(({ child, generation, error }) =>
        generation === child.generation && !Deferred.isDoneUnsafe(failed)
          ? Effect.uninterruptible(onChildFailed(child, error))
          : Effect.void
      ),
      Effect.forever
    )
  )
  yield* Effect.addFinalizer(() => Fiber.interrupt(loop))

  const rootNode = (): SupervisorNode => ({
    name: "root",
    strategy: config.root.strategy,
    intensity: config.root.intensity,
    periodMs: config.root.periodMs,
    state: Deferred.isDoneUnsafe(failed) ? "failed" : "running",
    recentRestarts: rootWindow.filter((t) => Date.now() - t < config.root.periodMs).length,
    escalations: 0
  })
  const status = (): SupervisorStatus => ({
    supervisor: { id, pid: process.pid, host: hostname(), startedAt },
    actors: children.flatMap((c) => c.supervisor?.status() ?? []),
    tree: {
      root: rootNode(),
      models: children.map((c) => {
        const node = c.supervisor?.node()
        return node === undefined
          ? {
              name: c.config.name,
              ...c.config.supervisor,
              state: "restarting" as const,
              recentRestarts: 0,
              escalations: c.escalations
            }
          : { ...node, escalations: c.escalations }
      })
    }
  })
  const tree: SupervisorTree = {
    id,
    status,
    model: (model) => children.find((c) => c.config.name === model)?.supervisor,
    serving: Effect.forEach(children, (c) => c.supervisor?.serving ?? Effect.void, { discard: true }),
    failure: Deferred.await(failed)
  }
  yield* answerControl(nc, subject, tree)
  return tree
})
