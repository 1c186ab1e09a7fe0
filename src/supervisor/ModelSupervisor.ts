// The supervisor of one model's replicas: an ordered list of child slots and a restart window,
// driven by one mailbox so exits, reports and shutdown are handled one at a time, OTP style.
import { Deferred, Effect, Fiber, Queue, Schema, type Scope } from "effect"
import type { ActorCounters, ActorMessage, ActorSettings } from "../actors/ipc.js"
import { type ActorState, type ActorStatus } from "../protocol/messages.js"
import { type ActorProcess, forkActor } from "./actorProcess.js"
import { type ChildSpec, describeExit, type ExitReason, shouldRestart } from "./childSpec.js"
import { type ModelConfig, replicaSpecs } from "./config.js"
import { type IntensityPolicy, recordRestart } from "./intensity.js"
import { childrenToRestart, type Strategy } from "./strategy.js"

export class IntensityExceeded extends Schema.TaggedError<IntensityExceeded>()("IntensityExceeded", {
  supervisor: Schema.String,
  message: Schema.String
}) {}

export interface SupervisorContext {
  readonly supervisorId: string
  readonly servers: string | ReadonlyArray<string>
  readonly prefix: string
  readonly strategy: Strategy
  readonly policy: IntensityPolicy
}

export interface ModelSupervisor {
  readonly model: string
  readonly status: () => ReadonlyArray<ActorStatus>
  /** Completes once every replica has reported serving at least once. */
  readonly serving: Effect.Effect<void>
  /** Fails when this supervisor gives up (restart intensity exceeded); never succeeds. */
  readonly failure: Effect.Effect<never, IntensityExceeded>
}

interface Slot {
  readonly spec: ChildSpec
  readonly actorId: string
  process: ActorProcess | undefined
  incarnation: number
  state: ActorState
  restarts: number
  counters: ActorCounters | undefined
  lastExit: ExitReason | undefined
}

type Event =
  | { readonly type: "exited"; readonly id: string; readonly incarnation: number; readonly reason: ExitReason }
  | { readonly type: "report"; readonly id: string; readonly incarnation: number; readonly message: ActorMessage }

/** Starts the replicas of `model` in order; closing the scope stops them in reverse order. */
export const startModelSupervisor = Effect.fn("ModelSupervisor.start")(function*(
  model: ModelConfig,
  ctx: SupervisorContext
): Effect.fn.Return<ModelSupervisor, never, Scope.Scope> {
  const name = `${model.name} supervisor`
  const mailbox = yield* Queue.unbounded<Event>()
  const failed = yield* Deferred.make<never, IntensityExceeded>()
  const allServing = yield* Deferred.make<void>()
  const slots: Array<Slot> = replicaSpecs(model).map((spec) => ({
    spec,
    actorId: `${spec.id}@${ctx.supervisorId}`,
    process: undefined,
    incarnation: 0,
    state: "starting",
    restarts: 0,
    counters: undefined,
    lastExit: undefined
  }))
  const slotById = new Map(slots.map((s) => [s.spec.id, s]))
  let restartWindow: ReadonlyArray<number> = []

  const settingsOf = (slot: Slot): ActorSettings => ({
    id: slot.actorId,
    model: model.name,
    path: model.path,
    servers: ctx.servers,
    prefix: ctx.prefix,
    version: 1,
    heartbeatMs: model.heartbeatMs,
    ...(model.maxPayloadBytes === undefined ? {} : { maxPayloadBytes: model.maxPayloadBytes })
  })

  const start = (slot: Slot, state: ActorState) => {
    const incarnation = ++slot.incarnation
    const id = slot.spec.id
    slot.state = state
    slot.counters = undefined
    try {
      const child = forkActor(settingsOf(slot), (message) => Queue.offerUnsafe(mailbox, { type: "report", id, incarnation, message }))
      slot.process = child
      void child.exited.then((reason) => Queue.offerUnsafe(mailbox, { type: "exited", id, incarnation, reason }))
    } catch (error) {
      slot.process = undefined
      Queue.offerUnsafe(mailbox, { type: "exited", id, incarnation, reason: { kind: "startFailed", message: String(error) } })
    }
  }

  /** Ends a child on purpose: its exit event becomes stale, so it is not seen as a crash. */
  const terminate = (slot: Slot) =>
    Effect.promise(async () => {
      const child = slot.process
      slot.incarnation++
      slot.process = undefined
      if (child !== undefined) slot.lastExit = await child.stop(slot.spec.shutdown)
    })

  const terminateAll = (order: ReadonlyArray<Slot>) => Effect.forEach([...order].reverse(), terminate, { discard: true })

  const onReport = (slot: Slot, message: ActorMessage) => {
    slot.counters = message.counters
    slot.state = message.type === "draining" ? "draining" : "serving"
    if (slots.every((s) => s.state === "serving")) Deferred.doneUnsafe(allServing, Effect.void)
  }

  const onExit = Effect.fnUntraced(function*(slot: Slot, reason: ExitReason) {
    slot.process = undefined
    slot.lastExit = reason
    yield* Effect.logWarning(`${slot.actorId} ${describeExit(reason)}`)
    if (!shouldRestart(slot.spec.restart, reason)) {
      slot.state = "failed"
      return
    }
    const decision = recordRestart(restartWindow, Date.now(), ctx.policy)
    restartWindow = decision.window
    if (decision.exceeded) {
      for (const s of slots) s.state = "failed"
      yield* terminateAll(slots)
      const message = `${name} gave up: more than ${ctx.policy.intensity} restarts within ${ctx.policy.periodMs / 1000} s (last: ${slot.actorId} ${describeExit(reason)})`
      yield* Effect.logError(message)
      yield* Deferred.fail(failed, new IntensityExceeded({ supervisor: name, message }))
      return
    }
    const ids = childrenToRestart(ctx.strategy, slots.map((s) => s.spec.id), slot.spec.id)
    const restarting = ids.map((id) => slotById.get(id)!)
    yield* terminateAll(restarting.filter((s) => s !== slot))
    for (const s of restarting) {
      s.restarts++
      start(s, "restarting")
    }
  })

  const handle = (event: Event) => {
    const slot = slotById.get(event.id)
    if (slot === undefined || slot.incarnation !== event.incarnation || Deferred.isDoneUnsafe(failed)) return Effect.void
    if (event.type === "report") return Effect.sync(() => onReport(slot, event.message))
    return onExit(slot, event.reason)
  }

  for (const slot of slots) start(slot, "starting")
  const loop = yield* Effect.forkScoped(
    Queue.take(mailbox).pipe(Effect.flatMap((event) => Effect.uninterruptible(handle(event))), Effect.forever)
  )
  yield* Effect.addFinalizer(() => Fiber.interrupt(loop).pipe(Effect.andThen(terminateAll(slots))))

  const status = (): ReadonlyArray<ActorStatus> =>
    slots.map((s) => ({
      id: s.actorId,
      model: model.name,
      pid: s.process?.pid ?? null,
      state: s.state,
      version: s.counters?.version ?? 1,
      loads: s.counters?.loads ?? 0,
      restarts: s.restarts,
      served: s.counters?.served ?? 0,
      errors: s.counters?.errors ?? 0,
      inflight: s.counters?.inflight ?? 0,
      tensors: s.counters?.tensors ?? 0,
      rssBytes: s.counters?.rssBytes ?? 0,
      ...(s.lastExit === undefined ? {} : { lastExit: describeExit(s.lastExit) })
    }))

  return { model: model.name, status, serving: Deferred.await(allServing), failure: Deferred.await(failed) }
})
