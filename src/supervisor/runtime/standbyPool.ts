// A supervisor's pool of warm standby processes: keeps `size` of them (forked in the background, a dead
// one replaced after a backoff), and a launcher that gives a slot needing a process a ready standby, else forks one.
import { Clock, Effect, Exit, Fiber, FiberMap, Queue, Random, Scope } from "effect"
import type { StandbyLaunch } from "../../protocol/ipc.js"
import { ActorState, type ActorStatus, STANDBY_MODEL } from "../../protocol/messages.js"
import type { BackoffPolicy } from "../machine/backoff.js"
import { describeExit, type ExitReason } from "../machine/childSpec.js"
import { STANDBY_BACKOFF, standbyRetry } from "../machine/standbyPolicy.js"
import { ActorLauncher, type StandbyProcess, type StandbySignal } from "./actorLauncher.js"
import type { ChildSignal } from "./interpreter.js"

export interface StandbyPoolOptions {
  readonly size: number
  /** The settings of the standby process of pool slot `id` (`standby-1`, …). */
  readonly settingsOf: (id: string) => StandbyLaunch
  /** The id a pool slot's status row shows (`standby-1@k3j9x2`). */
  readonly actorId: (id: string) => string
  readonly backoff?: BackoffPolicy
  /** How long a standby may take to exit after SIGTERM at shutdown before it is killed (default 5 s). */
  readonly shutdownMs?: number
  /** A ready standby silent this long (no heartbeat) is hung: never handed a slot, killed and replaced (default 10 s). */
  readonly staleAfterMs?: number
  /** Sees each event of the pool once it is handled, with the slot it was about (tests await this). */
  readonly onStep?: (event: "Start" | "Died" | "Adopted", slot: string) => void
}

export interface StandbyPool {
  /** Launches actors: a ready standby takes the slot (it loads the slot's model), else a process is forked. */
  readonly launcher: ActorLauncher["Service"]
  /** A status row per standby process (`starting`, then `standby` once ready), with its pid and memory. */
  readonly rows: () => ReadonlyArray<ActorStatus>
  /** Starts keeping the pool full (the first standbys are forked now). */
  readonly fill: Effect.Effect<void>
  /** Stops refilling and ends every standby (SIGTERM, killed after `shutdownMs`); waits until they are gone. */
  readonly shutdown: Effect.Effect<void>
}

/** A standby process of a pool slot. */
interface Standby {
  readonly process: StandbyProcess
  /** Its own scope, closed once it is gone or assigned. */
  readonly scope: Scope.Closeable
  /** Monotonic and wall ms when it was forked. */
  readonly startedAt: number
  readonly startedWall: number
  ready: boolean
  rssBytes: number
  /** Monotonic ms of its latest report. */
  lastSeen: number
}

interface Slot {
  readonly id: string
  current: Standby | undefined
  /** Deaths in a row (backoff). */
  attempt: number
  /** Standbys of this slot that died and were replaced (adoptions do not count). */
  restarts: number
}

type PoolEvent =
  | { readonly _tag: "Start"; readonly slot: Slot }
  | { readonly _tag: "Died"; readonly slot: Slot; readonly standby: Standby; readonly reason: ExitReason }
  /** The process a standby became has served or exited: the slot forks its next standby. */
  | { readonly _tag: "Adopted"; readonly slot: Slot }

/** The pool lives in the current scope; closing it shuts the pool down. */
export const makeStandbyPool = Effect.fnUntraced(function* (
  options: StandbyPoolOptions
): Effect.fn.Return<StandbyPool, never, Scope.Scope | ActorLauncher> {
  const launcher = yield* ActorLauncher
  const scope = yield* Effect.scope
  // Every standby's scope is forked from this one, closed after `shutdown` (a finalizer added later) stopped them gracefully.
  const standbysScope = yield* Scope.fork(scope)
  const clock = yield* Clock.Clock
  const timers = yield* FiberMap.make<string>()
  const mailbox = yield* Queue.unbounded<PoolEvent>()
  const policy = options.backoff ?? STANDBY_BACKOFF
  const slots: ReadonlyArray<Slot> = Array.from({ length: options.size }, (_, i) => ({
    id: `standby-${i + 1}`,
    current: undefined,
    attempt: 0,
    restarts: 0
  }))
  const monotonicMs = () => Number(clock.monotonicTimeNanosUnsafe()) / 1e6
  let closing = false
  const offer = (event: PoolEvent) => Queue.offerUnsafe(mailbox, event)

  const start = (slot: Slot) =>
    Effect.gen(function* () {
      if (closing || slot.current !== undefined) return
      const standbyScope = yield* Scope.fork(standbysScope)
      let standby: Standby | undefined
      const signal = (s: StandbySignal) => {
        // after it was assigned a slot, the process signals to that slot's supervisor instead
        if (standby === undefined || slot.current !== standby) return
        if (s._tag === "Exited") {
          slot.current = undefined
          offer({ _tag: "Died", slot, standby, reason: s.reason })
        } else {
          standby.rssBytes = s.rssBytes
          standby.lastSeen = monotonicMs()
          if (s._tag === "Ready") standby.ready = true
        }
      }
      const process = yield* launcher
        .startStandby(options.settingsOf(slot.id), signal)
        .pipe(Scope.provide(standbyScope))
      const now = monotonicMs()
      standby = {
        process,
        scope: standbyScope,
        startedAt: now,
        startedWall: clock.currentTimeMillisUnsafe(),
        ready: false,
        rssBytes: 0,
        lastSeen: now
      }
      slot.current = standby
    })

  const replaceDead = (slot: Slot, standby: Standby, reason: ExitReason) =>
    Effect.gen(function* () {
      yield* Scope.close(standby.scope, Exit.void)
      if (closing) return
      const retry = standbyRetry(slot.attempt, monotonicMs() - standby.startedAt, yield* Random.next, policy)
      slot.attempt = retry.attempt
      slot.restarts += 1
      yield* Effect.logWarning(
        `${options.actorId(slot.id)} (pid ${standby.process.pid}) ${describeExit(reason)}; replaced in ${retry.delayMs} ms`
      )
      yield* FiberMap.run(
        timers,
        slot.id,
        Effect.sleep(retry.delayMs).pipe(Effect.andThen(Effect.sync(() => offer({ _tag: "Start", slot }))))
      )
    })

  const handle = (event: PoolEvent): Effect.Effect<void> => {
    switch (event._tag) {
      case "Start":
      case "Adopted":
        return start(event.slot)
      case "Died":
        return replaceDead(event.slot, event.standby, event.reason)
    }
  }
  const loop = yield* Effect.forkScoped(
    Queue.take(mailbox).pipe(
      Effect.flatMap((event) =>
        Effect.uninterruptible(handle(event)).pipe(
          Effect.andThen(Effect.sync(() => options.onStep?.(event._tag, event.slot.id)))
        )
      ),
      Effect.catchCause((cause) => Effect.logError("standby pool: handling an event failed", cause)),
      Effect.forever
    )
  )

  /** A ready standby takes the slot; the pool forks the next one once that process has served or exited. */
  const adopt =
    (slot: Slot, standby: Standby): ActorLauncher["Service"]["launch"] =>
    (settings, signal) => {
      let settled = false
      const watched = (s: ChildSignal) => {
        if (!settled && (s._tag === "Exited" || s.report._tag === "Ready")) {
          settled = true
          offer({ _tag: "Adopted", slot })
        }
        signal(s)
      }
      return standby.process.assign(settings, watched).pipe(
        Effect.tap(() => Scope.close(standby.scope, Exit.void)),
        Effect.tap(() =>
          Effect.logInfo(`${settings.id} starts in standby ${options.actorId(slot.id)} (pid ${standby.process.pid})`)
        )
      )
    }

  const staleAfterMs = options.staleAfterMs ?? 10_000
  /** Ready standbys that stopped reporting are killed (then replaced like any dead one). */
  const killHung = Effect.suspend(() => {
    const now = monotonicMs()
    const hung = slots.flatMap((s) =>
      s.current?.ready === true && now - s.current.lastSeen > staleAfterMs ? [s.current] : []
    )
    return Effect.forEach(
      hung,
      (standby) =>
        Effect.logWarning(
          `standby pid ${standby.process.pid} silent for ${Math.round(now - standby.lastSeen)} ms: killed`
        ).pipe(Effect.andThen(Effect.forkIn(standby.process.stop("brutal_kill"), scope))),
      { discard: true }
    )
  })

  const launch: ActorLauncher["Service"]["launch"] = (settings, signal) =>
    killHung.pipe(
      Effect.andThen(
        Effect.suspend(() => {
          const now = monotonicMs()
          const slot = closing
            ? undefined
            : slots.find((s) => s.current?.ready === true && now - s.current.lastSeen <= staleAfterMs)
          const standby = slot?.current
          if (slot === undefined || standby === undefined) return launcher.launch(settings, signal)
          slot.current = undefined
          return adopt(slot, standby)(settings, signal)
        })
      )
    )

  const shutdown = Effect.gen(function* () {
    closing = true
    // an event being handled (a standby being forked) finishes first
    yield* Fiber.interrupt(loop)
    yield* FiberMap.clear(timers)
    const live = slots.flatMap((slot) => {
      const standby = slot.current
      slot.current = undefined
      return standby === undefined ? [] : [standby]
    })
    yield* Effect.forEach(
      live,
      (standby) =>
        standby.process.stop(options.shutdownMs ?? 5_000).pipe(Effect.andThen(Scope.close(standby.scope, Exit.void))),
      { concurrency: "unbounded", discard: true }
    )
  })
  yield* Effect.addFinalizer(() => shutdown)

  const rows = (): ReadonlyArray<ActorStatus> =>
    slots.flatMap((slot) => {
      const standby = slot.current
      if (standby === undefined) return []
      return [
        {
          id: options.actorId(slot.id),
          model: STANDBY_MODEL,
          pid: standby.process.pid ?? null,
          state: standby.ready ? ActorState.standby : ActorState.starting,
          version: 0,
          loads: 0,
          restarts: slot.restarts,
          served: 0,
          errors: 0,
          inflight: 0,
          calls: 0,
          tensors: 0,
          rssBytes: standby.rssBytes,
          startedAt: standby.startedWall
        }
      ]
    })

  return {
    launcher: ActorLauncher.of({ launch, startStandby: launcher.startStandby }),
    rows,
    fill: Effect.sync(() => {
      for (const slot of slots) offer({ _tag: "Start", slot })
    }),
    shutdown
  }
})
