// An in-memory ActorLauncher for supervisor unit tests: "processes" that report ready, fail to start
// or stay silent as the test says, and that the test crashes, hangs or lets report on demand.
import { Effect, Layer } from "effect"
import type { ActorCounters, ActorSettings } from "../../../src/protocol/ipc.js"
import type { ExitReason, Shutdown } from "../../../src/supervisor/childSpec.js"
import { ActorLauncher } from "../../../src/supervisor/runtime/actorLauncher.js"
import type { ChildSignal } from "../../../src/supervisor/runtime/interpreter.js"

/** What a fake process does when started: report ready, exit as failed to start, or say nothing. */
export type Behavior = "ready" | "failStart" | "silent"

export interface FakeProcess {
  readonly id: string
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

export const makeFakeLauncher = (behavior: (settings: ActorSettings) => Behavior = () => "ready") => {
  const processes: Array<FakeProcess> = []
  let nextPid = 1000
  const end = (p: FakeProcess, reason: ExitReason) => {
    if (!p.alive) return
    p.alive = false
    p.signal({ _tag: "Exited", reason })
  }
  const layer = Layer.succeed(
    ActorLauncher,
    ActorLauncher.of({
      launch: (settings, signal) =>
        Effect.gen(function* () {
          const p: FakeProcess = { id: settings.id, pid: nextPid++, signal, stoppedWith: undefined, alive: true }
          processes.push(p)
          const what = behavior(settings)
          if (what === "ready")
            signal({ _tag: "Reported", report: { _tag: "Ready", loadMs: 20, counters: counters() } })
          if (what === "failStart")
            end(p, { kind: "startFailed", message: `ModelLoadFailed: no model folder for ${settings.id}` })
          const stop = (shutdown: Shutdown) =>
            Effect.sync(() => {
              if (p.alive) p.stoppedWith ??= shutdown
              end(p, shutdown === "brutal_kill" ? { kind: "signal", signal: "SIGKILL" } : { kind: "normal" })
            })
          yield* Effect.addFinalizer(() => stop("brutal_kill"))
          return { pid: p.pid, stop }
        })
    })
  )
  const live = (id: string) => processes.filter((p) => p.alive && p.id.startsWith(`${id}@`))
  return {
    layer,
    processes,
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
