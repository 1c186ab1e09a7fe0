// `transition` called directly on the rules beyond OTP: a replacement started beside the serving process
// and promoted once it serves (operator restarts, recycling past a limit), and silence (start timeout,
// then hang timeout) that kills a process and restarts it as a crash.
import { describe, expect, it } from "vitest"
import type { ChildSpec } from "../../../../src/supervisor/machine/childSpec.js"
import type { Child } from "../../../../src/supervisor/machine/state.js"
import {
  at,
  cancel,
  check,
  child,
  childOf,
  counters,
  emit,
  exited,
  heartbeat,
  killed,
  log,
  type Row,
  ready,
  reply,
  serving,
  silenceTimer,
  start,
  starting,
  stop,
  successor,
  supervisorOf,
  terminated,
  worker
} from "./builders.js"

describe("successor promotion: the replacement serves first, then the old process drains", () => {
  const a = worker("a")
  /** `a` serving as incarnation 1 with a replacement (2) starting for `purpose`, operator call 7 waiting on it. */
  const replacing = (purpose: "restart" | "recycle", over: Partial<Child> = {}) =>
    supervisorOf([child(a, { primary: serving(1), successor: successor(starting(2), purpose), ...over })], {
      calls: purpose === "restart" ? [[7, { pending: ["a"], done: [] }]] : []
    })
  const waiting = { waiting: [{ call: 7, after: 1 }] }
  const rows: ReadonlyArray<Row> = [
    {
      name: "an operator restart starts the replacement and waits for it (no answer yet)",
      state: supervisorOf([child(a, { primary: serving(1) })]),
      event: { _tag: "RestartRequested", call: 7, target: "a" },
      commands: [start(a, 2)],
      facts: (state) => {
        expect(childOf(state, "a").successor).toEqual(successor(starting(2, 60_000), "restart"))
        expect(childOf(state, "a").waiting).toEqual([{ call: 7, after: 1 }])
        expect(state.calls.get(7)).toEqual({ pending: ["a"], done: [] })
      }
    },
    {
      name: "the replacement serves: it is promoted, the old one drains in the background, the call is answered",
      state: replacing("restart", waiting),
      event: ready("a", 2, 20),
      commands: [
        emit("started", "a", 2, { loadMs: 20 }),
        emit("restarted", "a", 2, { restarts: 1 }),
        ...terminated("a", 1, 5_000, false),
        reply(7, ["a"])
      ],
      facts: (state) => {
        const after = childOf(state, "a")
        expect([after.primary?.n, after.primary?.state, after.successor, after.restarts]).toEqual([
          2,
          "serving",
          undefined,
          1
        ])
        expect(state.calls.size).toBe(0)
      }
    },
    {
      name: "a recycling replacement serves: promoted as recycled, not as a restart",
      state: replacing("recycle"),
      event: ready("a", 2, 20),
      commands: [
        emit("started", "a", 2, { loadMs: 20 }),
        emit("recycled", "a", 2, { restarts: 0 }),
        ...terminated("a", 1, 5_000, false)
      ],
      facts: (state) => expect([childOf(state, "a").recycled, childOf(state, "a").restarts]).toEqual([1, 0])
    },
    {
      name: "the old process dies while the replacement starts: the replacement takes its place, the call still waits",
      state: replacing("restart", waiting),
      event: killed("a", 1),
      commands: [
        cancel("silence:a:1"),
        emit("exited", "a", 1, { reason: "killed by SIGKILL" }),
        emit("restarted", "a", 2, { restarts: 1 })
      ],
      facts: (state) => {
        const after = childOf(state, "a")
        expect([after.primary?.n, after.primary?.state, after.successor, after.waiting]).toEqual([
          2,
          "starting",
          undefined,
          [{ call: 7, after: 1 }]
        ])
        expect(state.restarts).toEqual([60_000])
      }
    },
    {
      name: "then that process serves: the call is answered",
      state: supervisorOf([child(a, { primary: starting(2), restarts: 1, ...waiting })], {
        calls: [[7, { pending: ["a"], done: [] }]]
      }),
      event: ready("a", 2),
      commands: [emit("started", "a", 2), reply(7, ["a"])]
    },
    {
      name: "the replacement fails: the old process serves on, the call is answered with nothing replaced",
      state: replacing("restart", waiting),
      event: exited("a", 2, { kind: "code", code: 1 }),
      commands: [
        cancel("silence:a:2"),
        emit("exited", "a", 2, { reason: "replacement exited with code 1" }),
        reply(7, [])
      ],
      facts: (state) => {
        const after = childOf(state, "a")
        expect([after.primary?.n, after.successor, after.recycleBlockedUntil]).toEqual([1, undefined, 60_000])
        expect(state.restarts).toEqual([])
      }
    },
    {
      name: "a restart while a recycling replacement starts: that replacement serves the restart too",
      state: replacing("recycle"),
      event: { _tag: "RestartRequested", call: 8, target: undefined },
      commands: [],
      facts: (state) => expect(childOf(state, "a").successor?.purpose).toBe("restart")
    },
    {
      name: "a restart of a process still starting waits for that process",
      state: supervisorOf([child(a, { primary: starting(4) })]),
      event: { _tag: "RestartRequested", call: 8, target: undefined },
      commands: [],
      facts: (state) => expect(childOf(state, "a").waiting).toEqual([{ call: 8, after: 3 }])
    },
    {
      name: "a restart with no process to replace is answered at once",
      state: supervisorOf([child(a, { restartToken: 1 })]),
      event: { _tag: "RestartRequested", call: 8, target: undefined },
      commands: [reply(8, [])]
    }
  ]
  it.each(rows)("$name", check)
})

describe("recycling: past a limit, a serving process gets a replacement", () => {
  const limits = { afterRequests: 100, maxRssMb: 500, maxTensors: 1_000 }
  const a = worker("a", {
    recycle: limits,
    backoff: { initialMs: 1_000, maxMs: 5_000, jitter: 0, resetAfterMs: 10_000 }
  })
  const servingA = (over: Partial<Child> = {}) => supervisorOf([child(a, { primary: serving(1), ...over })])
  const recycles = (why: string) => [log("info", `a recycling: ${why}`), start(a, 2)]
  const rows: ReadonlyArray<Row> = [
    { name: "within every limit", state: servingA(), event: heartbeat("a", 1, { served: 99 }), commands: [] },
    {
      name: "served afterRequests",
      state: servingA(),
      event: heartbeat("a", 1, { served: 100 }),
      commands: recycles("served 100 requests (limit 100)"),
      facts: (state) => expect(childOf(state, "a").successor?.purpose).toBe("recycle")
    },
    {
      name: "errors count as requests",
      state: servingA(),
      event: heartbeat("a", 1, { served: 60, errors: 40 }),
      commands: recycles("served 100 requests (limit 100)")
    },
    {
      name: "resident memory at maxRssMb",
      state: servingA(),
      event: heartbeat("a", 1, { rssBytes: 600 * 1024 * 1024 }),
      commands: recycles("resident memory 600 MB (limit 500)")
    },
    {
      name: "live tensors at maxTensors",
      state: servingA(),
      event: heartbeat("a", 1, { tensors: 1_000 }),
      commands: recycles("1000 live tensors (limit 1000)")
    },
    {
      name: "a replacement is already starting",
      state: servingA({ successor: successor(starting(2), "restart") }),
      event: heartbeat("a", 1, { served: 500 }),
      commands: []
    },
    {
      name: "a replacement failed a moment ago: blocked until its backoff passed",
      state: servingA({ recycleBlockedUntil: 61_000 }),
      event: heartbeat("a", 1, { served: 500 }),
      commands: []
    },
    {
      name: "draining: it is on its way out",
      state: servingA(),
      event: { _tag: "Reported", id: "a", n: 1, report: { _tag: "Draining", counters: counters({ served: 500 }) } },
      commands: []
    },
    {
      name: "a failed replacement blocks recycling for the slot's backoff",
      state: servingA({ successor: successor(starting(2), "recycle") }),
      event: killed("a", 2),
      commands: [cancel("silence:a:2"), emit("exited", "a", 2, { reason: "replacement killed by SIGKILL" })],
      facts: (state) => expect(childOf(state, "a").recycleBlockedUntil).toBe(61_000)
    }
  ]
  it.each(rows)("$name", check)
})

describe("silence: the start timeout until the first report, then the hang timeout", () => {
  const a: ChildSpec = worker("a", { hangTimeoutMs: 2_000, startTimeoutMs: 10_000 })
  const silentSince = (lastSeen: number, reported: boolean) =>
    supervisorOf([child(a, { primary: reported ? serving(1, 0, lastSeen) : starting(1, lastSeen) })])
  const rows: ReadonlyArray<Row> = [
    {
      name: "a start timeout shorter than the hang timeout gives way to it",
      state: supervisorOf([child(worker("s", { hangTimeoutMs: 2_000, startTimeoutMs: 500 }))], { phase: "starting" }),
      event: { _tag: "Init" },
      env: at(0),
      commands: [start(worker("s", { hangTimeoutMs: 2_000, startTimeoutMs: 500 }), 1), silenceTimer("s", 1, 2_000)]
    },
    {
      name: "never reported within the start timeout: killed at once, without waiting",
      state: silentSince(0, false),
      event: { _tag: "SilenceDue", id: "a", n: 1 },
      env: at(10_000),
      commands: [
        log("warning", "a (incarnation 1) silent for 10000 ms: killing it"),
        stop("a", 1, "brutal_kill", false)
      ],
      facts: (state) => expect(childOf(state, "a").primary?.hungFor).toBe(10_000)
    },
    {
      name: "its first report (still loading): from now on the hang timeout",
      state: silentSince(0, false),
      event: { _tag: "Reported", id: "a", n: 1, report: { _tag: "Heartbeat", state: "starting" } },
      env: at(5_000),
      commands: [silenceTimer("a", 1, 2_000)],
      facts: (state) =>
        expect(childOf(state, "a").primary).toMatchObject({ reported: true, lastSeen: 5_000, state: "starting" })
    },
    {
      name: "every report re-arms the timer",
      state: silentSince(5_000, true),
      event: heartbeat("a", 1),
      env: at(6_000),
      commands: [silenceTimer("a", 1, 2_000)]
    },
    {
      name: "silent for the hang timeout after a report: killed",
      state: silentSince(5_000, true),
      event: { _tag: "SilenceDue", id: "a", n: 1 },
      env: at(7_000),
      commands: [log("warning", "a (incarnation 1) silent for 2000 ms: killing it"), stop("a", 1, "brutal_kill", false)]
    },
    {
      name: "its exit is a hang, restarted as a crash (the new process gets the start timeout)",
      state: supervisorOf([child(a, { primary: { ...serving(1, 0, 5_000), hungFor: 2_000 } })]),
      event: killed("a", 1),
      env: at(60_000),
      commands: [
        cancel("silence:a:1"),
        emit("exited", "a", 1, { reason: "no heartbeat for 2000 ms" }),
        start(a, 2),
        silenceTimer("a", 2, 10_000),
        emit("restarted", "a", 2, { restarts: 1 })
      ],
      facts: (state) => expect(childOf(state, "a").lastExit).toEqual({ kind: "hang", silentMs: 2_000 })
    },
    {
      name: "silent through its start timeout while the supervisor starts: the start fails",
      state: supervisorOf([child(a, { primary: { ...starting(1, 0), hungFor: 10_000 } })], { phase: "starting" }),
      event: killed("a", 1),
      env: at(10_000),
      commands: [
        cancel("silence:a:1"),
        emit("exited", "a", 1, { reason: "no heartbeat for 10000 ms" }),
        log("error", "model m could not start: replica a no heartbeat for 10000 ms before it served"),
        {
          _tag: "Fail",
          failure: {
            kind: "startFailed",
            message: "model m could not start: replica a no heartbeat for 10000 ms before it served"
          }
        }
      ]
    },
    {
      name: "a silent replacement is killed the same way (the serving process stays)",
      state: supervisorOf([
        child(a, { primary: serving(1, 0, 9_000), successor: successor(starting(2, 0), "recycle") })
      ]),
      event: { _tag: "SilenceDue", id: "a", n: 2 },
      env: at(10_000),
      commands: [
        log("warning", "a (incarnation 2) silent for 10000 ms: killing it"),
        stop("a", 2, "brutal_kill", false)
      ],
      facts: (state) =>
        expect([childOf(state, "a").primary?.hungFor, childOf(state, "a").successor?.hungFor]).toEqual([
          undefined,
          10_000
        ])
    },
    {
      name: "a child without a hang timeout is never timed",
      state: supervisorOf([child(worker("w"))], { phase: "starting" }),
      event: { _tag: "Init" },
      env: at(0),
      commands: [start(worker("w"), 1)]
    }
  ]
  it.each(rows)("$name", check)

  it("a terminated process's timer is cancelled with its stop", () =>
    check({
      name: "terminated",
      state: silentSince(5_000, true),
      event: { _tag: "Shutdown" },
      commands: [...terminated("a", 1, 5_000), { _tag: "Stopped" }]
    }))
})
