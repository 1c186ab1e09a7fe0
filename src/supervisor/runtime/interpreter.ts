// Runs one supervisor's state machine: a mailbox handled one event at a time (time from Effect's
// Clock, jitter from its Random), commands carried out in order, children and timers in its Scope.
import { Cause, Clock, Deferred, Effect, Exit, Fiber, FiberMap, FiberSet, Queue, Random, Scope } from "effect"
import type { ChildSpec, ExitReason, Shutdown } from "../machine/childSpec.js"
import type { ChildReport, Command, Event, Failure, ScaleDecision } from "../machine/eventsAndCommands.js"
import { initialState, type SupervisorFlags, type SupervisorState } from "../machine/state.js"
import type { StatusClock } from "../machine/statusRows.js"
import { transition } from "../machine/transition.js"

/** What a started child tells its supervisor. */
export type ChildSignal =
  | { readonly _tag: "Reported"; readonly report: ChildReport }
  | { readonly _tag: "Exited"; readonly reason: ExitReason }

export interface ChildHandle {
  /** The OS process id, when the child is a process. */
  readonly pid: number | undefined
  /** Ends the child, gracefully within `shutdown` ms or at once; completes once it is gone. */
  readonly stop: (shutdown: Shutdown) => Effect.Effect<void>
}

/**
 * Starts incarnation `n` of a child inside the scope it is given (closed once the child is gone);
 * the child signals its reports and, exactly once, its exit. Starting never fails: a child that
 * cannot start signals an exit.
 */
export type StartChild = (
  spec: ChildSpec,
  n: number,
  signal: (signal: ChildSignal) => void
) => Effect.Effect<ChildHandle, never, Scope.Scope>

export type EmitCommand = Extract<Command, { _tag: "Emit" }>

export interface SupervisorOptions {
  readonly name: string
  /** How messages name this supervisor (default: its name). */
  readonly label?: string
  readonly flags: SupervisorFlags
  readonly children: ReadonlyArray<ChildSpec>
  /** The spec of child number `index`, for a supervisor that can scale. */
  readonly template?: (index: number) => ChildSpec
  readonly start: StartChild
  /** A lifecycle event about a child, with the pid of the incarnation it names. */
  readonly emit: (event: EmitCommand, pid: number | undefined) => Effect.Effect<void>
  /** Sees each event once it is handled: its commands carried out, an exited child's scope closed (tests await this). */
  readonly onStep?: (event: Event, commands: ReadonlyArray<Command>) => void
}

export interface Supervisor {
  readonly name: string
  /** The state now (for status). */
  readonly state: () => SupervisorState
  readonly pidOf: (n: number) => number | undefined
  /** Monotonic and wall time now, to render the state's times. */
  readonly clock: () => StatusClock
  /** Completes once every child has served; fails if the supervisor could not start. */
  readonly started: Effect.Effect<void, Failure>
  /** Completes with the reason once the supervisor stops supervising on its own (start failure or giving up). */
  readonly failed: Effect.Effect<Failure>
  /** Replaces the targeted children (all when undefined) without a gap; the ids replaced. */
  readonly restart: (target?: string) => Effect.Effect<ReadonlyArray<string>>
  /** Sets the number of children (`decision`: why, when the autoscaler asks); the ids added or removed. */
  readonly scale: (replicas: number, decision?: ScaleDecision) => Effect.Effect<ReadonlyArray<string>>
  /** Stops every child in reverse start order and waits until they are gone. */
  readonly shutdown: Effect.Effect<void>
}

const millis = (nanos: bigint) => Number(nanos) / 1e6

/**
 * Starts the supervisor's children: forked in start order, each without waiting for the one before
 * to serve (they load concurrently); closing the scope stops them in reverse start order, one at a time.
 */
export const startSupervisor = Effect.fnUntraced(function* (
  options: SupervisorOptions
): Effect.fn.Return<Supervisor, never, Scope.Scope> {
  const scope = yield* Effect.scope
  // Children live in a scope of their own, closed only after the ordered shutdown below has stopped them.
  const childrenScope = yield* Scope.make()
  const clock = yield* Clock.Clock
  const mailbox = yield* Queue.unbounded<Event>()
  const timers = yield* FiberMap.make<string>()
  const retiring = yield* FiberSet.make()
  const started = yield* Deferred.make<void, Failure>()
  const failed = yield* Deferred.make<Failure>()
  const stopped = yield* Deferred.make<void>()
  const calls = new Map<number, Deferred.Deferred<ReadonlyArray<string>>>()
  const children = new Map<number, { readonly handle: ChildHandle; readonly scope: Scope.Closeable }>()
  let state = initialState(options)
  let nextCall = 1
  const offer = (event: Event) => Queue.offerUnsafe(mailbox, event)

  const release = (n: number) =>
    Effect.suspend(() => {
      const child = children.get(n)
      children.delete(n)
      return child === undefined ? Effect.void : Scope.close(child.scope, Exit.void)
    })

  const run = (command: Command): Effect.Effect<void> => {
    switch (command._tag) {
      case "Start":
        return Effect.gen(function* () {
          const childScope = yield* Scope.fork(childrenScope)
          const { id, n } = command
          const signal = (s: ChildSignal) =>
            offer(
              s._tag === "Reported"
                ? { _tag: "Reported", id, n, report: s.report }
                : { _tag: "Exited", id, n, reason: s.reason }
            )
          const handle = yield* options.start(command.spec, n, signal).pipe(Scope.provide(childScope))
          children.set(n, { handle, scope: childScope })
        })
      case "Stop": {
        const child = children.get(command.n)
        if (child === undefined) return Effect.void
        const stopping = child.handle.stop(command.shutdown).pipe(Effect.andThen(release(command.n)))
        return command.wait ? stopping : FiberSet.run(retiring, stopping).pipe(Effect.asVoid)
      }
      case "SetTimer":
        return FiberMap.run(
          timers,
          command.key,
          Effect.sleep(command.delayMs).pipe(Effect.andThen(Effect.sync(() => offer(command.event))))
        ).pipe(Effect.asVoid)
      case "CancelTimer":
        return FiberMap.remove(timers, command.key)
      case "Emit":
        return options.emit(command, command.n === undefined ? undefined : children.get(command.n)?.handle.pid)
      case "Log":
        return command.level === "info"
          ? Effect.logInfo(command.message)
          : command.level === "warning"
            ? Effect.logWarning(command.message)
            : Effect.logError(command.message)
      case "Reply":
        return Effect.suspend(() => {
          const deferred = calls.get(command.call)
          calls.delete(command.call)
          return deferred === undefined ? Effect.void : Deferred.succeed(deferred, command.done)
        })
      case "Started":
        return Deferred.succeed(started, undefined)
      case "Fail":
        return Deferred.fail(started, command.failure).pipe(Effect.andThen(Deferred.succeed(failed, command.failure)))
      case "Stopped":
        return Deferred.succeed(stopped, undefined)
    }
  }

  const step = (event: Event) =>
    Effect.gen(function* () {
      const now = millis(yield* Clock.monotonicTimeNanos)
      const random = yield* Random.next
      const next = transition(state, event, { now, random })
      state = next.state
      for (const command of next.commands) yield* run(command)
      if (event._tag === "Exited") yield* release(event.n)
      options.onStep?.(event, next.commands)
    })

  // A defect while handling one event is a bug: it is logged with its cause, and the mailbox goes on
  // (a supervisor that stopped reading its mailbox would leave every caller waiting).
  const handle = (event: Event) =>
    Effect.uninterruptible(step(event)).pipe(
      Effect.catchCause((cause) =>
        Effect.logError(`${options.name} supervisor: handling ${event._tag} failed`, Cause.pretty(cause))
      )
    )
  const loop = yield* Effect.forkIn(Queue.take(mailbox).pipe(Effect.flatMap(handle), Effect.forever), scope)
  yield* Effect.addFinalizer(() =>
    Fiber.interrupt(loop).pipe(
      Effect.andThen(Effect.uninterruptible(step({ _tag: "Shutdown" }))),
      Effect.andThen(FiberSet.awaitEmpty(retiring)),
      Effect.andThen(Scope.close(childrenScope, Exit.void))
    )
  )
  offer({ _tag: "Init" })

  const call = (event: (call: number) => Event) =>
    Effect.suspend(() => {
      const id = nextCall++
      const done = Deferred.makeUnsafe<ReadonlyArray<string>>()
      calls.set(id, done)
      offer(event(id))
      return Deferred.await(done)
    })

  return {
    name: options.name,
    state: () => state,
    pidOf: (n) => children.get(n)?.handle.pid,
    clock: () => ({ now: millis(clock.monotonicTimeNanosUnsafe()), wallNow: clock.currentTimeMillisUnsafe() }),
    started: Deferred.await(started),
    failed: Deferred.await(failed),
    restart: (target) => call((c) => ({ _tag: "RestartRequested", call: c, target })),
    scale: (replicas, decision) =>
      call((c) => ({ _tag: "ScaleRequested", call: c, replicas, ...(decision === undefined ? {} : { decision }) })),
    shutdown: Effect.suspend(() => {
      offer({ _tag: "Shutdown" })
      return Deferred.await(stopped).pipe(Effect.andThen(FiberSet.awaitEmpty(retiring)))
    })
  }
})
