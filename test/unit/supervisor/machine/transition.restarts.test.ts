// `transition` called directly, one table per rule of a child's exit: OTP's restart types, the three
// strategies (which children restart, stopped in reverse, started again in order), backoff, stale events.
import { describe, expect, it } from "vitest"
import type { ExitReason, RestartType } from "../../../../src/supervisor/machine/childSpec.js"
import type { Strategy } from "../../../../src/supervisor/machine/strategy.js"
import {
  at,
  cancel,
  check,
  child,
  childOf,
  emit,
  exited,
  killed,
  type Row,
  ready,
  restartTimer,
  serving,
  start,
  supervisorOf,
  terminated,
  worker
} from "./builders.js"

const NORMAL: ExitReason = { kind: "normal" }
const CRASH: ExitReason = { kind: "code", code: 1 }

describe("restart types: permanent always, transient after an abnormal exit, temporary never", () => {
  const cases: ReadonlyArray<readonly [RestartType, ExitReason, boolean]> = [
    ["permanent", NORMAL, true],
    ["permanent", CRASH, true],
    ["transient", NORMAL, false],
    ["transient", CRASH, true],
    ["transient", { kind: "hang", silentMs: 2_000 }, true],
    ["temporary", NORMAL, false],
    ["temporary", CRASH, false]
  ]
  const rows: ReadonlyArray<Row> = cases.map(([restart, reason, restarted]) => {
    const a = worker("a", { restart })
    const said =
      reason.kind === "normal"
        ? "exited normally"
        : reason.kind === "code"
          ? "exited with code 1"
          : "no heartbeat for 2000 ms"
    return {
      name: `${restart} child, ${said}: ${restarted ? "restarted at once" : "stays down"}`,
      state: supervisorOf([child(a, { primary: serving(1) })]),
      event: exited("a", 1, reason),
      commands: [
        cancel("silence:a:1"),
        emit("exited", "a", 1, { reason: said }),
        ...(restarted ? [start(a, 2), emit("restarted", "a", 2, { restarts: 1 })] : [])
      ],
      facts: (state) => {
        const after = childOf(state, "a")
        expect(after.lastExit).toEqual(reason)
        expect(after.primary?.n).toBe(restarted ? 2 : undefined)
        // only a restart counts against the intensity
        expect(state.restarts).toEqual(restarted ? [60_000] : [])
      }
    }
  })
  it.each(rows)("$name", check)
})

describe("strategies: which children restart, stopped in reverse start order, started again in start order", () => {
  const [a, b, c] = [worker("a"), worker("b"), worker("c")]
  const three = (strategy: Strategy) =>
    supervisorOf(
      [child(a, { primary: serving(1) }), child(b, { primary: serving(2) }), child(c, { primary: serving(3) })],
      {
        flags: { strategy }
      }
    )
  const crashOf = (id: string, n: number) => [
    cancel(`silence:${id}:${n}`),
    emit("exited", id, n, { reason: "killed by SIGKILL" })
  ]
  const rows: ReadonlyArray<Row & { readonly restarts: ReadonlyArray<number> }> = [
    {
      name: "one_for_one: b fails, b alone restarts",
      state: three("one_for_one"),
      event: killed("b", 2),
      commands: [...crashOf("b", 2), start(b, 4), emit("restarted", "b", 4, { restarts: 1 })],
      restarts: [0, 1, 0]
    },
    {
      name: "one_for_all: b fails, c then a are stopped, a, b, c start again",
      state: three("one_for_all"),
      event: killed("b", 2),
      commands: [
        ...crashOf("b", 2),
        ...terminated("c", 3, 5_000),
        ...terminated("a", 1, 5_000),
        start(a, 4),
        emit("restarted", "a", 4, { restarts: 1 }),
        start(b, 5),
        emit("restarted", "b", 5, { restarts: 1 }),
        start(c, 6),
        emit("restarted", "c", 6, { restarts: 1 })
      ],
      restarts: [1, 1, 1]
    },
    {
      name: "rest_for_one: b fails, c is stopped, b and c start again",
      state: three("rest_for_one"),
      event: killed("b", 2),
      commands: [
        ...crashOf("b", 2),
        ...terminated("c", 3, 5_000),
        start(b, 4),
        emit("restarted", "b", 4, { restarts: 1 }),
        start(c, 5),
        emit("restarted", "c", 5, { restarts: 1 })
      ],
      restarts: [0, 1, 1]
    },
    {
      name: "rest_for_one: the first child fails, every other one is stopped last-first",
      state: three("rest_for_one"),
      event: killed("a", 1),
      commands: [
        ...crashOf("a", 1),
        ...terminated("c", 3, 5_000),
        ...terminated("b", 2, 5_000),
        start(a, 4),
        emit("restarted", "a", 4, { restarts: 1 }),
        start(b, 5),
        emit("restarted", "b", 5, { restarts: 1 }),
        start(c, 6),
        emit("restarted", "c", 6, { restarts: 1 })
      ],
      restarts: [1, 1, 1]
    },
    {
      name: "rest_for_one: the last child fails, it alone restarts",
      state: three("rest_for_one"),
      event: killed("c", 3),
      commands: [...crashOf("c", 3), start(c, 4), emit("restarted", "c", 4, { restarts: 1 })],
      restarts: [0, 0, 1]
    }
  ]
  it.each(rows)("$name", (row) =>
    check({
      ...row,
      facts: (state) => {
        expect(state.children.map((x) => x.restarts)).toEqual(row.restarts)
        expect(state.children.map((x) => x.primary?.state)).toEqual(
          row.restarts.map((r) => (r === 1 ? "starting" : "serving"))
        )
        // one failure is one restart against the intensity, however many children it took down
        expect(state.restarts).toEqual([60_000])
      }
    })
  )
})

describe("backoff: a slot that keeps crashing waits longer before each restart; a long life resets it", () => {
  const policy = { initialMs: 100, maxMs: 500, jitter: 0.2, resetAfterMs: 10_000 }
  const a = worker("a", { backoff: policy })
  const rows: ReadonlyArray<Row> = [
    {
      name: "a process that lived resetAfterMs restarts at once",
      state: supervisorOf([child(a, { primary: serving(1, 0), attempt: 3 })]),
      event: killed("a", 1),
      env: at(10_000),
      commands: [
        cancel("silence:a:1"),
        emit("exited", "a", 1, { reason: "killed by SIGKILL" }),
        start(a, 2),
        emit("restarted", "a", 2, { restarts: 1 })
      ],
      facts: (state) => expect(childOf(state, "a").attempt).toBe(0)
    },
    {
      name: "the first quick crash waits initialMs (no jitter at random 0.5)",
      state: supervisorOf([child(a, { primary: serving(1, 59_950) })]),
      event: killed("a", 1),
      commands: [
        cancel("silence:a:1"),
        emit("exited", "a", 1, { reason: "killed by SIGKILL" }),
        restartTimer("a", 100, 1)
      ],
      facts: (state) => {
        const after = childOf(state, "a")
        expect({ primary: after.primary, restartToken: after.restartToken, attempt: after.attempt }).toEqual({
          primary: undefined,
          restartToken: 1,
          attempt: 1
        })
        // counted now, when it was decided
        expect([after.restarts, state.restarts]).toEqual([1, [60_000]])
      }
    },
    {
      name: "the fourth quick crash in a row waits 800 ms, capped at maxMs",
      state: supervisorOf([child(a, { primary: serving(1, 59_950), attempt: 3 })]),
      event: killed("a", 1),
      commands: [
        cancel("silence:a:1"),
        emit("exited", "a", 1, { reason: "killed by SIGKILL" }),
        restartTimer("a", 500, 1)
      ]
    },
    {
      name: "jitter spreads the delay by up to ±jitter (random 0: -20 %)",
      state: supervisorOf([child(a, { primary: serving(1, 59_950) })]),
      event: killed("a", 1),
      env: at(60_000, 0),
      commands: [
        cancel("silence:a:1"),
        emit("exited", "a", 1, { reason: "killed by SIGKILL" }),
        restartTimer("a", 80, 1)
      ]
    },
    {
      name: "the restart falls due: the next process starts",
      state: supervisorOf([child(a, { restartToken: 1, restarts: 1, attempt: 1 })]),
      event: { _tag: "RestartDue", id: "a", token: 1 },
      commands: [start(a, 1), emit("restarted", "a", 1, { restarts: 1 })],
      facts: (state) => expect(childOf(state, "a").restartToken).toBeUndefined()
    },
    {
      name: "a restart timer made stale by a newer decision does nothing",
      state: supervisorOf([child(a, { restartToken: 2 })]),
      event: { _tag: "RestartDue", id: "a", token: 1 },
      commands: []
    }
  ]
  it.each(rows)("$name", check)
})

describe("stale events: what an incarnation that is no longer current says is ignored", () => {
  const a = worker("a")
  const current = supervisorOf([child(a, { primary: serving(2) })])
  const rows: ReadonlyArray<Row> = [
    { name: "the exit of an earlier incarnation", state: current, event: killed("a", 1), commands: [] },
    { name: "the report of an earlier incarnation", state: current, event: ready("a", 1), commands: [] },
    { name: "the exit of a child that was removed", state: current, event: killed("b", 3), commands: [] },
    {
      name: "a silence timer of an earlier incarnation",
      state: current,
      event: { _tag: "SilenceDue", id: "a", n: 1 },
      commands: []
    }
  ]
  it.each(rows)("$name", (row) => check({ ...row, facts: (state) => expect(state).toEqual(row.state) }))
})
