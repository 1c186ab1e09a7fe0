// An in-memory ActorLauncher for supervisor unit tests: "processes" that report ready, fail to start
// or stay silent as the test says, and that the test crashes, hangs or lets report on demand; standbys
// that become ready when the test says and, once assigned, behave as the processes above. A test awaits
// a condition on them with `until`, checked again at each start, stop and exit.
import { Deferred, Effect, Layer, type Scope } from "effect"
import type { ActorCounters, ActorSettings } from "../../../src/protocol/ipc.js"
import type { ExitReason, Shutdown } from "../../../src/supervisor/machine/childSpec.js"
import { ActorLauncher, type StandbySignal } from "../../../src/supervisor/runtime/actorLauncher.js"
import type { ChildHandle, ChildSignal } from "../../../src/supervisor/runtime/interpreter.js"

/** What a fake process does when started: report ready, exit as failed to start, or say nothing. */
export type Behavior = "ready" | "failStart" | "silent"

export interface FakeProcess {
  /** The actor id (`m-1@test`). */
  readonly id: string
  readonly model: string
  /** The child id in its supervisor (`m-1`). */
  readonly child: string
  readonly pid: number
  readonly signal: (signal: ChildSignal) => void
  /** How it was stopped, if the supervisor stopped it. */
  stoppedWith: Shutdown | undefined
  alive: boolean
}

export const counters = (over: Partial<ActorCounters> = {}): ActorCounters => ({
  version: 1,
  loads: 1,
  served: 0,
  errors: 0,
  inflight: 0,
  calls: 0,
  tensors: 4,
  rssBytes: 100 * 1024 * 1024,
  ...over
})

/** A standby process: no model until it is assigned a slot (then it is also a FakeProcess of that id). */
export interface FakeStandby {
  readonly id: string
  readonly pid: number
  readonly signal: (signal: StandbySignal) => void
  stoppedWith: Shutdown | undefined
  alive: boolean
  /** The actor id it was assigned, if it was. */
  assignedTo: string | undefined
}

export const makeFakeLauncher = (behavior: (settings: ActorSettings) => Behavior = () => "ready") => {
  const processes: Array<FakeProcess> = []
  /** Processes the supervisor stopped, in the order it stopped them. */
  const stopped: Array<FakeProcess> = []
  const standbys: Array<FakeStandby> = []
  let nextPid = 1000
  const waiters = new Set<{ readonly holds: () => boolean; readonly done: Deferred.Deferred<void> }>()
  /** Something changed: the waiters whose condition now holds go on. */
  const changed = () => {
    for (const waiter of waiters) {
      if (!waiter.holds()) continue
      waiters.delete(waiter)
      Deferred.doneUnsafe(waiter.done, Effect.void)
    }
  }
  const end = (p: FakeProcess, reason: ExitReason) => {
    if (!p.alive) return
    p.alive = false
    p.signal({ _tag: "Exited", reason })
    changed()
  }
  const endStandby = (s: FakeStandby, reason: ExitReason) => {
    if (!s.alive) return
    s.alive = false
    s.signal({ _tag: "Exited", reason })
    changed()
  }
  /** A process of `settings.id` with this pid, behaving as `behavior` says. */
  const run = (
    settings: ActorSettings,
    signal: (signal: ChildSignal) => void,
    pid: number
  ): Effect.Effect<ChildHandle, never, Scope.Scope> =>
    Effect.gen(function* () {
      const p: FakeProcess = {
        id: settings.id,
        model: settings.model,
        child: settings.id.split("@")[0]!,
        pid,
        signal,
        stoppedWith: undefined,
        alive: true
      }
      processes.push(p)
      changed()
      const what = behavior(settings)
      if (what === "ready") signal({ _tag: "Reported", report: { _tag: "Ready", loadMs: 20, counters: counters() } })
      if (what === "failStart")
        end(p, { kind: "startFailed", message: `ModelLoadFailed: no model folder for ${settings.id}` })
      const stop = (shutdown: Shutdown) =>
        Effect.sync(() => {
          if (p.alive) {
            p.stoppedWith ??= shutdown
            stopped.push(p)
          }
          end(p, shutdown === "brutal_kill" ? { kind: "signal", signal: "SIGKILL" } : { kind: "normal" })
        })
      yield* Effect.addFinalizer(() => stop("brutal_kill"))
      return { pid: p.pid, stop }
    })
  const layer = Layer.succeed(
    ActorLauncher,
    ActorLauncher.of({
      launch: (settings, signal) => run(settings, signal, nextPid++),
      startStandby: (settings, signal) =>
        Effect.gen(function* () {
          const s: FakeStandby = {
            id: settings.id,
            pid: nextPid++,
            signal,
            stoppedWith: undefined,
            alive: true,
            assignedTo: undefined
          }
          standbys.push(s)
          changed()
          const stop = (shutdown: Shutdown) =>
            Effect.sync(() => {
              if (s.alive) s.stoppedWith ??= shutdown
              endStandby(s, shutdown === "brutal_kill" ? { kind: "signal", signal: "SIGKILL" } : { kind: "normal" })
            })
          yield* Effect.addFinalizer(() => (s.assignedTo === undefined ? stop("brutal_kill") : Effect.void))
          return {
            pid: s.pid,
            stop,
            assign: (actor, childSignal) =>
              Effect.suspend(() => {
                s.assignedTo = actor.id
                if (!s.alive) {
                  childSignal({ _tag: "Exited", reason: { kind: "signal", signal: "SIGKILL" } })
                  return Effect.succeed({ pid: s.pid, stop: () => Effect.void })
                }
                // from now on the process is the actor: the standby record stays for the test to read
                s.alive = false
                return run(actor, childSignal, s.pid)
              })
          }
        })
    })
  )
  const live = (id: string) => processes.filter((p) => p.alive && p.id.startsWith(`${id}@`))
  const liveStandbys = () => standbys.filter((s) => s.alive)
  return {
    layer,
    /** Completes once `holds()` is true: at once, or at the start, stop or exit after which it is. */
    until: (holds: () => boolean): Effect.Effect<void> =>
      Effect.suspend(() => {
        if (holds()) return Effect.void
        const done = Deferred.makeUnsafe<void>()
        waiters.add({ holds, done })
        return Deferred.await(done)
      }),
    processes,
    stopped,
    standbys,
    /** The standbys alive and not assigned, oldest first. */
    liveStandbys,
    standbyReady: (s: FakeStandby, rssBytes = 80 * 1024 * 1024) => s.signal({ _tag: "Ready", rssBytes }),
    crashStandby: (s: FakeStandby, reason: ExitReason = { kind: "signal", signal: "SIGKILL" }) => endStandby(s, reason),
    /** The live processes of child `id` (e.g. `iris-1`), oldest first. */
    live,
    /** The newest live process of child `id`. */
    current: (id: string): FakeProcess => {
      const found = live(id).at(-1)
      if (found === undefined) throw new Error(`no live process of ${id}`)
      return found
    },
    crash: (p: FakeProcess, reason: ExitReason = { kind: "signal", signal: "SIGKILL" }) => end(p, reason),
    ready: (p: FakeProcess, over: Partial<ActorCounters> = {}) =>
      p.signal({ _tag: "Reported", report: { _tag: "Ready", loadMs: 20, counters: counters(over) } }),
    heartbeat: (p: FakeProcess, over: Partial<ActorCounters> = {}) =>
      p.signal({ _tag: "Reported", report: { _tag: "Heartbeat", state: "serving", counters: counters(over) } })
  }
}
export type FakeLauncher = ReturnType<typeof makeFakeLauncher>
