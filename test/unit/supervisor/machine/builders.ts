// Plain-data builders for table tests of `transition(state, event, env)`: child specs, a supervisor's
// state with its children's incarnations, and the commands a row expects, each spelled like the protocol.

import { expect } from "vitest"
import type { ActorCounters } from "../../../../src/protocol/ipc.js"
import type { LifecycleEventType } from "../../../../src/protocol/messages.js"
import type { ChildSpec, Shutdown } from "../../../../src/supervisor/machine/childSpec.js"
import type { Command, EmitFields, Env, Event } from "../../../../src/supervisor/machine/eventsAndCommands.js"
import {
  type Child,
  type Incarnation,
  newChild,
  newIncarnation,
  type PendingCall,
  type Phase,
  type Successor,
  type SupervisorFlags,
  type SupervisorState
} from "../../../../src/supervisor/machine/state.js"
import { transition } from "../../../../src/supervisor/machine/transition.js"

/** A replica: permanent, 5 s to drain, no hang timeout, no backoff (restarted at once, as in OTP). */
export const worker = (id: string, over: Partial<ChildSpec> = {}): ChildSpec => ({
  id,
  restart: "permanent",
  shutdown: 5_000,
  type: "worker",
  ...over
})

/** A model's supervisor as the root's child. */
export const supervisorChild = (id: string): ChildSpec => ({
  id,
  restart: "permanent",
  shutdown: "infinity",
  type: "supervisor"
})

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

/** Incarnation `n`, started at `startedAt`, that has not reported yet. */
export const starting = (n: number, startedAt = 0): Incarnation => newIncarnation(n, startedAt)

/** Incarnation `n`, started at `startedAt`, serving since its last report at `lastSeen`. */
export const serving = (n: number, startedAt = 0, lastSeen = startedAt): Incarnation => ({
  ...newIncarnation(n, startedAt),
  lastSeen,
  reported: true,
  state: "serving",
  counters: counters()
})

export const successor = (incarnation: Incarnation, purpose: Successor["purpose"]): Successor => ({
  ...incarnation,
  purpose
})

export const child = (spec: ChildSpec, over: Partial<Child> = {}): Child => ({ ...newChild(spec), ...over })

export interface StateOptions {
  readonly name?: string
  readonly label?: string
  readonly flags?: Partial<SupervisorFlags>
  readonly phase?: Phase
  readonly restarts?: ReadonlyArray<number>
  readonly calls?: ReadonlyArray<readonly [number, PendingCall]>
  readonly template?: (index: number) => ChildSpec
}

/** A model's supervisor ("model m", one_for_one, 3 restarts in 5 s) running `children`, in start order. */
export const supervisorOf = (children: ReadonlyArray<Child>, options: StateOptions = {}): SupervisorState => {
  const ns = children.flatMap((c) => [c.primary?.n ?? 0, c.successor?.n ?? 0])
  return {
    name: options.name ?? "m",
    label: options.label ?? "model m",
    flags: { strategy: "one_for_one", intensity: 3, periodMs: 5_000, ...options.flags },
    phase: options.phase ?? "running",
    children,
    restarts: options.restarts ?? [],
    nextIncarnation: Math.max(0, ...ns) + 1,
    nextToken: 1,
    calls: new Map(options.calls ?? []),
    template: options.template
  }
}

/** The environment of a step at monotonic `now` (random 0.5: backoff jitter draws no spread). */
export const at = (now: number, random = 0.5): Env => ({ now, random })

// Events

export const exited = (id: string, n: number, reason: Extract<Event, { _tag: "Exited" }>["reason"]): Event => ({
  _tag: "Exited",
  id,
  n,
  reason
})
export const killed = (id: string, n: number): Event => exited(id, n, { kind: "signal", signal: "SIGKILL" })
export const ready = (id: string, n: number, loadMs?: number): Event => ({
  _tag: "Reported",
  id,
  n,
  report: loadMs === undefined ? { _tag: "Ready" } : { _tag: "Ready", loadMs }
})
export const heartbeat = (id: string, n: number, over: Partial<ActorCounters> = {}): Event => ({
  _tag: "Reported",
  id,
  n,
  report: { _tag: "Heartbeat", state: "serving", counters: counters(over) }
})

// Commands

export const start = (spec: ChildSpec, n: number): Command => ({ _tag: "Start", id: spec.id, n, spec })
export const stop = (id: string, n: number, shutdown: Shutdown, wait: boolean): Command => ({
  _tag: "Stop",
  id,
  n,
  shutdown,
  wait
})
export const cancel = (key: string): Command => ({ _tag: "CancelTimer", key })
/** What ending incarnation `n` on purpose issues: its silence timer cancelled, then the stop. */
export const terminated = (id: string, n: number, shutdown: Shutdown, wait = true): ReadonlyArray<Command> => [
  cancel(`silence:${id}:${n}`),
  stop(id, n, shutdown, wait)
]
export const silenceTimer = (id: string, n: number, delayMs: number): Command => ({
  _tag: "SetTimer",
  key: `silence:${id}:${n}`,
  delayMs,
  event: { _tag: "SilenceDue", id, n }
})
export const restartTimer = (id: string, delayMs: number, token: number): Command => ({
  _tag: "SetTimer",
  key: `restart:${id}`,
  delayMs,
  event: { _tag: "RestartDue", id, token }
})
export const emit = (
  type: LifecycleEventType,
  id: string | undefined,
  n: number | undefined,
  fields: EmitFields = {}
): Command => ({ _tag: "Emit", type, id, n, fields })
export const log = (level: "info" | "warning" | "error", message: string): Command => ({ _tag: "Log", level, message })
export const reply = (call: number, done: ReadonlyArray<string>): Command => ({ _tag: "Reply", call, done })
export const fail = (kind: "startFailed" | "gaveUp", message: string): Command => ({
  _tag: "Fail",
  failure: { kind, message }
})

/** A table row: the state and event it starts from, the time, and the commands it must issue. */
export interface Row {
  readonly name: string
  readonly state: SupervisorState
  readonly event: Event
  readonly env?: Env
  readonly commands: ReadonlyArray<Command>
  /** Facts about the state after the step (default: none checked). */
  readonly facts?: (state: SupervisorState) => void
}

/** Runs a row: the transition issues exactly the row's commands, in order; then the row's facts hold. */
export const check = (row: Row): void => {
  const next = transition(row.state, row.event, row.env ?? at(60_000))
  expect(next.commands).toEqual(row.commands)
  row.facts?.(next.state)
}

/** The child with `id` in `state`. */
export const childOf = (state: SupervisorState, id: string): Child => {
  const found = state.children.find((c) => c.spec.id === id)
  if (found === undefined) throw new Error(`no child ${id}`)
  return found
}
