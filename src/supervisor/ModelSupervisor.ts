// The supervisor of one model's replicas: ordered child slots, a restart window, per-slot backoff,
// hang detection and recycling, driven by one mailbox so every change is handled one at a time.
import { Deferred, Effect, Fiber, Queue, Schema, type Scope } from "effect"
import type { ActorMessage, ActorSettings } from "../protocol/ipc.js"
import type { ActorStatus, LifecycleEvent, LifecycleEventType, SupervisorNode } from "../protocol/messages.js"

type EventFields = Partial<Pick<LifecycleEvent, "actor" | "pid" | "reason" | "restarts" | "replicas" | "loadMs">>

import { forkActor } from "./actorProcess.js"
import { backoffDelay, nextAttempt } from "./backoff.js"
import { describeExit, type ExitReason, shouldRestart } from "./childSpec.js"
import { type ModelConfig, replicaSpec } from "./config.js"
import { recordRestart } from "./intensity.js"
import { recycleReason } from "./recycle.js"
import { type Incarnation, type Slot, slotStatus } from "./slots.js"
import { childrenToRestart } from "./strategy.js"

export class IntensityExceeded extends Schema.TaggedError<IntensityExceeded>()("IntensityExceeded", {
  supervisor: Schema.String,
  message: Schema.String
}) {}

export interface SupervisorContext {
  readonly supervisorId: string
  readonly servers: string | ReadonlyArray<string>
  readonly prefix: string
  /** Actors load and follow the JetStream registry (else their config path). */
  readonly registry: { readonly enabled: boolean; readonly retention: number }
  /** Publishes and logs a lifecycle event of this model. */
  readonly emit: (type: LifecycleEventType, fields: EventFields) => void
}

export interface ModelSupervisor {
  readonly model: string
  readonly status: () => ReadonlyArray<ActorStatus>
  readonly node: () => SupervisorNode
  /** Completes once every replica has reported serving at least once. */
  readonly serving: Effect.Effect<void>
  /** Fails when this supervisor gives up (restart intensity exceeded); never succeeds. */
  readonly failure: Effect.Effect<never, IntensityExceeded>
  /** Replaces the targeted replicas (all when `target` is undefined) without a gap; resolves with their ids once done. */
  readonly restart: (target?: string) => Effect.Effect<ReadonlyArray<string>>
  /** Sets the number of replicas; removed ones are drained. Resolves with the ids added or removed. */
  readonly scale: (replicas: number) => Effect.Effect<ReadonlyArray<string>>
}

/** How many exits of a slot its status remembers. */
const EXIT_HISTORY = 5

type Event =
  | { readonly type: "exited"; readonly slot: Slot; readonly n: number; readonly reason: ExitReason }
  | { readonly type: "report"; readonly slot: Slot; readonly n: number; readonly message: ActorMessage }
  | { readonly type: "due"; readonly slot: Slot; readonly token: number }
  | { readonly type: "tick" }
  | { readonly type: "call"; readonly run: Effect.Effect<void> }

/** Starts the replicas of `model` in order; closing the scope stops them in reverse order. */
export const startModelSupervisor = Effect.fn("ModelSupervisor.start")(function* (
  model: ModelConfig,
  ctx: SupervisorContext
): Effect.fn.Return<ModelSupervisor, never, Scope.Scope> {
  const policy = model.supervisor
  const runInContext = Effect.runSyncWith(yield* Effect.context<never>())
  const name = `${model.name} supervisor`
  const mailbox = yield* Queue.unbounded<Event>()
  const failed = yield* Deferred.make<never, IntensityExceeded>()
  const allServing = yield* Deferred.make<void>()
  const retiring = new Set<Promise<unknown>>()
  const slots: Array<Slot> = []
  let restartWindow: ReadonlyArray<number> = []
  let incarnations = 0
  const offer = (event: Event) => Queue.offerUnsafe(mailbox, event)

  const newSlot = (index: number): Slot => {
    const spec = replicaSpec(model, index)
    return {
      index,
      spec,
      actorId: `${spec.id}@${ctx.supervisorId}`,
      primary: undefined,
      successor: undefined,
      purpose: undefined,
      waiting: [],
      exits: [],
      due: undefined,
      dueToken: 0,
      attempt: 0,
      restarts: 0,
      recycled: 0,
      lastExit: undefined,
      recycleBlockedUntil: 0
    }
  }

  const settingsOf = (slot: Slot): ActorSettings => ({
    id: slot.actorId,
    model: model.name,
    path: model.path,
    servers: ctx.servers,
    prefix: ctx.prefix,
    version: 1,
    heartbeatMs: model.heartbeatMs,
    registry: ctx.registry.enabled,
    retention: ctx.registry.retention,
    batching: model.batching,
    ...(model.maxInflight === undefined ? {} : { maxInflight: model.maxInflight }),
    ...(model.maxPayloadBytes === undefined ? {} : { maxPayloadBytes: model.maxPayloadBytes })
  })

  const launch = (slot: Slot): Incarnation => {
    const n = ++incarnations
    const process = forkActor(settingsOf(slot), (message) => offer({ type: "report", slot, n, message }))
    void process.exited.then((reason) => offer({ type: "exited", slot, n, reason }))
    const now = Date.now()
    return { n, process, startedAt: now, lastSeen: now, counters: undefined, state: "starting", hungFor: undefined }
  }

  const retire = (inc: Incarnation | undefined, shutdown: Slot["spec"]["shutdown"]) => {
    if (inc === undefined) return Promise.resolve()
    const stopped = inc.process.stop(shutdown)
    retiring.add(stopped)
    void stopped.finally(() => retiring.delete(stopped))
    return stopped
  }

  const settleWaiting = (slot: Slot, replaced: boolean) => {
    for (const d of slot.waiting.splice(0)) Deferred.doneUnsafe(d, Effect.succeed(replaced))
  }

  /** Ends a slot's processes on purpose: their exit events become stale, so no crash is seen. */
  const terminate = (slot: Slot) =>
    Effect.promise(() => {
      if (slot.due !== undefined) clearTimeout(slot.due)
      slot.due = undefined
      slot.dueToken++
      const [primary, successor] = [slot.primary, slot.successor]
      slot.primary = slot.successor = slot.purpose = undefined
      settleWaiting(slot, false)
      return Promise.all([retire(successor, "brutal_kill"), retire(primary, slot.spec.shutdown)])
    })

  const terminateAll = (order: ReadonlyArray<Slot>) =>
    Effect.forEach([...order].reverse(), terminate, { discard: true })

  const scheduleRestart = (slot: Slot) => {
    slot.restarts++
    const delay = slot.attempt === 0 ? 0 : backoffDelay(slot.attempt - 1, model.backoff, Math.random())
    const token = ++slot.dueToken
    if (delay === 0) {
      slot.primary = launch(slot)
      ctx.emit("restarted", { actor: slot.actorId, pid: slot.primary.process.pid, restarts: slot.restarts })
    } else {
      slot.due = setTimeout(() => offer({ type: "due", slot, token }), delay)
    }
  }

  const giveUp = Effect.fnUntraced(function* (slot: Slot, reason: ExitReason) {
    yield* terminateAll(slots)
    const message = `${name} gave up: more than ${policy.intensity} restarts within ${policy.periodMs / 1000} s (last: ${slot.actorId} ${describeExit(reason)})`
    yield* Effect.logError(message)
    yield* Deferred.fail(failed, new IntensityExceeded({ supervisor: name, message }))
  })

  const onPrimaryExit = Effect.fnUntraced(function* (slot: Slot, inc: Incarnation, exit: ExitReason) {
    const reason: ExitReason = inc.hungFor === undefined ? exit : { kind: "hang", silentMs: inc.hungFor }
    slot.primary = undefined
    slot.lastExit = reason
    slot.exits.push({ at: Date.now(), reason: describeExit(reason) })
    if (slot.exits.length > EXIT_HISTORY) slot.exits.shift()
    ctx.emit("exited", { actor: slot.actorId, pid: inc.process.pid, reason: describeExit(reason) })
    if (!shouldRestart(slot.spec.restart, reason)) return yield* terminate(slot)
    const decision = recordRestart(restartWindow, Date.now(), policy)
    restartWindow = decision.window
    if (decision.exceeded) return yield* giveUp(slot, reason)
    slot.attempt = nextAttempt(slot.attempt, Date.now() - inc.startedAt, model.backoff)
    const siblings = childrenToRestart(
      policy.strategy,
      slots.map((s) => s.spec.id),
      slot.spec.id
    )
      .map((id) => slots.find((s) => s.spec.id === id)!)
      .filter((s) => s !== slot)
    yield* terminateAll(siblings)
    if (slot.successor !== undefined) {
      slot.primary = slot.successor
      slot.successor = slot.purpose = undefined
      slot.restarts++
      ctx.emit("restarted", { actor: slot.actorId, pid: slot.primary.process.pid, restarts: slot.restarts })
    } else {
      scheduleRestart(slot)
    }
    for (const s of siblings) scheduleRestart(s)
  })

  const onSuccessorExit = (slot: Slot, inc: Incarnation, reason: ExitReason) => {
    slot.successor = slot.purpose = undefined
    slot.recycleBlockedUntil = Date.now() + backoffDelay(slot.attempt, model.backoff, Math.random())
    settleWaiting(slot, false)
    ctx.emit("exited", { actor: slot.actorId, pid: inc.process.pid, reason: `replacement ${describeExit(reason)}` })
  }

  const promote = (slot: Slot) => {
    const [old, fresh, purpose] = [slot.primary, slot.successor!, slot.purpose]
    slot.primary = fresh
    slot.successor = slot.purpose = undefined
    if (purpose === "restart") slot.restarts++
    else slot.recycled++
    ctx.emit(purpose === "restart" ? "restarted" : "recycled", {
      actor: slot.actorId,
      pid: fresh.process.pid,
      restarts: slot.restarts
    })
    void retire(old, slot.spec.shutdown)
    settleWaiting(slot, true)
  }

  const replace = (slot: Slot, purpose: "recycle" | "restart") => {
    if (slot.successor === undefined && slot.primary !== undefined) {
      slot.successor = launch(slot)
      slot.purpose = purpose
    }
  }

  const onReport = (slot: Slot, inc: Incarnation, message: ActorMessage) => {
    if (message.type === "startFailed") return
    if (message.type === "ready")
      ctx.emit("started", { actor: slot.actorId, pid: inc.process.pid, loadMs: Math.round(message.loadMs) })
    inc.lastSeen = Date.now()
    inc.counters = message.counters
    inc.state = message.type === "ready" ? "serving" : message.type === "draining" ? "draining" : message.state
    if (inc === slot.successor && inc.state === "serving") return promote(slot)
    if (
      inc === slot.primary &&
      inc.state === "serving" &&
      slot.successor === undefined &&
      Date.now() >= slot.recycleBlockedUntil
    ) {
      const why = recycleReason(message.counters, model.recycle)
      if (why !== undefined) {
        runInContext(Effect.logInfo(`${slot.actorId} recycling: ${why}`))
        replace(slot, "recycle")
      }
    }
    if (slots.every((s) => s.primary?.state === "serving")) Deferred.doneUnsafe(allServing, Effect.void)
  }

  const checkHangs = () => {
    const now = Date.now()
    for (const slot of slots) {
      for (const inc of [slot.primary, slot.successor]) {
        if (inc === undefined || inc.hungFor !== undefined || now - inc.lastSeen <= model.hangTimeoutMs) continue
        inc.hungFor = now - inc.lastSeen
        runInContext(
          Effect.logWarning(`${slot.actorId} pid ${inc.process.pid} silent for ${inc.hungFor} ms: killing it`)
        )
        void inc.process.stop("brutal_kill")
      }
    }
  }

  const handle = (event: Event): Effect.Effect<void> => {
    if (Deferred.isDoneUnsafe(failed)) return event.type === "call" ? event.run : Effect.void
    switch (event.type) {
      case "call":
        return event.run
      case "tick":
        return Effect.sync(checkHangs)
      case "due":
        return Effect.sync(() => {
          if (event.token !== event.slot.dueToken || event.slot.primary !== undefined) return
          event.slot.due = undefined
          event.slot.primary = launch(event.slot)
          ctx.emit("restarted", {
            actor: event.slot.actorId,
            pid: event.slot.primary.process.pid,
            restarts: event.slot.restarts
          })
        })
      case "report": {
        const inc = [event.slot.primary, event.slot.successor].find((i) => i?.n === event.n)
        return inc === undefined ? Effect.void : Effect.sync(() => onReport(event.slot, inc, event.message))
      }
      case "exited": {
        const { slot, n, reason } = event
        if (slot.primary?.n === n) return onPrimaryExit(slot, slot.primary, reason)
        if (slot.successor?.n === n) return Effect.sync(() => onSuccessorExit(slot, slot.successor!, reason))
        return Effect.void
      }
    }
  }

  /** Runs `effect` inside the mailbox, between events, and waits for its result. */
  const call = <A>(effect: Effect.Effect<A>): Effect.Effect<A> =>
    Effect.gen(function* () {
      const result = yield* Deferred.make<A>()
      offer({ type: "call", run: Effect.flatMap(effect, (a) => Deferred.succeed(result, a)) })
      return yield* Deferred.await(result)
    })

  for (let i = 1; i <= model.replicas; i++) slots.push(newSlot(i))
  for (const slot of slots) slot.primary = launch(slot)
  const loop = yield* Effect.forkScoped(
    Queue.take(mailbox).pipe(
      Effect.flatMap((event) => Effect.uninterruptible(handle(event))),
      Effect.forever
    )
  )
  const ticker = setInterval(() => offer({ type: "tick" }), Math.min(250, model.hangTimeoutMs / 4))
  yield* Effect.addFinalizer(() =>
    Effect.sync(() => clearInterval(ticker)).pipe(
      Effect.andThen(Fiber.interrupt(loop)),
      Effect.andThen(terminateAll(slots)),
      Effect.andThen(Effect.promise(() => Promise.all(retiring)))
    )
  )

  const restart = (target?: string) =>
    call(
      Effect.sync(() => {
        const chosen = slots.filter((s) => target === undefined || s.actorId === target || s.spec.id === target)
        return chosen.map((slot) => {
          const done = Deferred.makeUnsafe<boolean>()
          slot.waiting.push(done)
          replace(slot, "restart")
          if (slot.successor === undefined) settleWaiting(slot, false)
          return { id: slot.actorId, done }
        })
      })
    ).pipe(
      Effect.flatMap((waits) =>
        Effect.forEach(waits, (w) => Deferred.await(w.done).pipe(Effect.map((ok) => (ok ? [w.id] : []))))
      ),
      Effect.map((ids) => ids.flat())
    )

  const scale = (replicas: number) =>
    call(
      Effect.gen(function* () {
        const from = slots.length
        if (replicas > from) {
          const added: Array<string> = []
          let next = Math.max(0, ...slots.map((s) => s.index))
          while (slots.length < replicas) {
            const slot = newSlot(++next)
            slots.push(slot)
            slot.primary = launch(slot)
            added.push(slot.actorId)
          }
          ctx.emit("scaled", { replicas })
          return added
        }
        const removed = slots.splice(replicas)
        yield* terminateAll(removed)
        if (removed.length > 0) ctx.emit("scaled", { replicas })
        return removed.map((s) => s.actorId)
      })
    )

  return {
    model: model.name,
    status: () => slots.map((slot) => slotStatus(slot, model.name)),
    node: () => ({
      name: model.name,
      strategy: policy.strategy,
      intensity: policy.intensity,
      periodMs: policy.periodMs,
      state: Deferred.isDoneUnsafe(failed) ? "failed" : "running",
      recentRestarts: restartWindow.filter((t) => Date.now() - t < policy.periodMs).length,
      escalations: 0
    }),
    serving: Deferred.await(allServing),
    failure: Deferred.await(failed),
    restart,
    scale
  }
})
