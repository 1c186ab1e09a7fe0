// `transition` called directly on giving up: the intensity edge (exactly `intensity` restarts within
// `period` are allowed, one more terminates the children and fails) and escalation to the parent.
import { describe, expect, it } from "vitest"
import type { SupervisorState } from "../../../../src/supervisor/machine/state.js"
import {
  cancel,
  check,
  child,
  emit,
  exited,
  fail,
  killed,
  log,
  type Row,
  reply,
  serving,
  start,
  starting,
  supervisorChild,
  supervisorOf,
  terminated,
  worker
} from "./builders.js"

describe("intensity: at most 2 restarts within 10 s; the crash at 60 s is the next one", () => {
  const [a, b] = [worker("a"), worker("b")]
  const withWindow = (restarts: ReadonlyArray<number>) =>
    supervisorOf([child(a, { primary: serving(1) }), child(b, { primary: serving(2) })], {
      flags: { intensity: 2, periodMs: 10_000 },
      restarts
    })
  const crashA = [cancel("silence:a:1"), emit("exited", "a", 1, { reason: "killed by SIGKILL" })]
  const restartedA = [...crashA, start(a, 3), emit("restarted", "a", 3, { restarts: 1 })]
  const gaveUp = "model m gave up: more than 2 restarts within 10 s (last: replica a killed by SIGKILL)"
  const gaveUpA = [...crashA, ...terminated("b", 2, 5_000), log("error", gaveUp), fail("gaveUp", gaveUp)]
  const rows: ReadonlyArray<Row & { readonly window?: ReadonlyArray<number> }> = [
    {
      name: "none in the window: restarted",
      state: withWindow([]),
      event: killed("a", 1),
      commands: restartedA,
      window: [60_000]
    },
    {
      name: "one in the window: the second is allowed",
      state: withWindow([55_000]),
      event: killed("a", 1),
      commands: restartedA,
      window: [55_000, 60_000]
    },
    {
      name: "two in the window: the third gives up, stopping the others last-first",
      state: withWindow([51_000, 55_000]),
      event: killed("a", 1),
      commands: gaveUpA
    },
    {
      name: "a restart exactly `period` old still counts",
      state: withWindow([50_000, 55_000]),
      event: killed("a", 1),
      commands: gaveUpA
    },
    {
      name: "one a millisecond older is forgotten",
      state: withWindow([49_999, 55_000]),
      event: killed("a", 1),
      commands: restartedA,
      window: [55_000, 60_000]
    }
  ]
  it.each(rows)("$name", (row) =>
    check({
      ...row,
      facts: (state) => {
        if (row.window === undefined) {
          expect(state.phase).toBe("failed")
          expect(state.children.map((x) => [x.primary, x.successor, x.restartToken])).toEqual([
            [undefined, undefined, undefined],
            [undefined, undefined, undefined]
          ])
        } else {
          expect([state.phase, state.restarts]).toEqual(["running", row.window])
        }
      }
    })
  )

  it("intensity 0: the first restart gives up", () =>
    check({
      name: "intensity 0",
      state: supervisorOf([child(a, { primary: serving(1) })], { flags: { intensity: 0, periodMs: 10_000 } }),
      event: killed("a", 1),
      commands: [
        ...crashA,
        log("error", "model m gave up: more than 0 restarts within 10 s (last: replica a killed by SIGKILL)"),
        fail("gaveUp", "model m gave up: more than 0 restarts within 10 s (last: replica a killed by SIGKILL)")
      ]
    }))

  it("an operator call still waiting is answered with what was done when the supervisor gives up", () =>
    check({
      name: "pending call",
      state: {
        ...withWindow([51_000, 55_000]),
        children: [
          child(a, { primary: serving(1) }),
          child(b, {
            primary: serving(2),
            successor: { ...starting(3), purpose: "restart" },
            waiting: [{ call: 7, after: 2 }]
          })
        ],
        calls: new Map([[7, { pending: ["b"], done: [] }]])
      },
      event: killed("a", 1),
      commands: [
        ...crashA,
        ...terminated("b", 3, "brutal_kill"),
        ...terminated("b", 2, 5_000),
        reply(7, []),
        log("error", gaveUp),
        fail("gaveUp", gaveUp)
      ],
      facts: (state) => expect(state.calls.size).toBe(0)
    }))
})

describe("a supervisor that gave up only answers: calls with nothing done, shutdown at once", () => {
  const failed = supervisorOf([child(worker("a"))], { phase: "failed" })
  const rows: ReadonlyArray<Row> = [
    {
      name: "a restart request",
      state: failed,
      event: { _tag: "RestartRequested", call: 3, target: undefined },
      commands: [reply(3, [])]
    },
    {
      name: "a scale request",
      state: failed,
      event: { _tag: "ScaleRequested", call: 4, replicas: 5 },
      commands: [reply(4, [])]
    },
    { name: "a late exit", state: failed, event: killed("a", 1), commands: [] },
    {
      name: "shutdown",
      state: failed,
      event: { _tag: "Shutdown" },
      commands: [{ _tag: "Stopped" }],
      facts: (state) => expect(state.phase).toBe("stopped")
    }
  ]
  it.each(rows)("$name", check)
})

describe("escalation: a model's supervisor that gave up is the root's failed child", () => {
  const [iris, cnn] = [supervisorChild("iris"), supervisorChild("cnn")]
  const irisGaveUp = "model iris gave up: more than 3 restarts within 5 s (last: replica iris-1 killed by SIGKILL)"
  const root = (strategy: "one_for_one" | "one_for_all", restarts: ReadonlyArray<number>): SupervisorState =>
    supervisorOf([child(iris, { primary: serving(1) }), child(cnn, { primary: serving(2) })], {
      name: "root",
      label: "root supervisor",
      flags: { strategy, intensity: 1, periodMs: 60_000 },
      restarts
    })
  const escalated = [cancel("silence:iris:1"), emit("escalated", "iris", undefined, { reason: irisGaveUp })]
  const because = (strategy: string) =>
    `model supervisor restarted by the root supervisor (${strategy}) after iris gave up`
  const rootGaveUp = `root supervisor gave up: more than 1 restarts within 60 s (last: ${irisGaveUp})`
  const rows: ReadonlyArray<Row> = [
    {
      name: "one_for_one root: the model's supervisor alone is restarted, saying why",
      state: root("one_for_one", []),
      event: exited("iris", 1, { kind: "gaveUp", message: irisGaveUp }),
      commands: [
        ...escalated,
        start(iris, 3),
        emit("restarted", "iris", 3, { restarts: 1, reason: because("one_for_one") })
      ]
    },
    {
      name: "one_for_all root: every model's supervisor is restarted",
      state: root("one_for_all", []),
      event: exited("iris", 1, { kind: "gaveUp", message: irisGaveUp }),
      commands: [
        ...escalated,
        ...terminated("cnn", 2, "infinity"),
        start(iris, 3),
        emit("restarted", "iris", 3, { restarts: 1, reason: because("one_for_all") }),
        start(cnn, 4),
        emit("restarted", "cnn", 4, { restarts: 1, reason: because("one_for_all") })
      ]
    },
    {
      name: "past the root's own intensity: the root gives up in turn, its last words quoting the model's",
      state: root("one_for_one", [10_000]),
      event: exited("iris", 1, { kind: "gaveUp", message: irisGaveUp }),
      commands: [
        ...escalated,
        ...terminated("cnn", 2, "infinity"),
        log("error", rootGaveUp),
        fail("gaveUp", rootGaveUp)
      ]
    },
    {
      name: "a restarted model's supervisor that cannot start is a failure like any other once the root runs",
      state: supervisorOf([child(iris, { primary: starting(1) })], {
        name: "root",
        label: "root supervisor",
        flags: { strategy: "one_for_one", intensity: 1, periodMs: 60_000 }
      }),
      event: exited("iris", 1, {
        kind: "startFailed",
        message: "model iris could not start: replica iris-1 failed to start: x"
      }),
      commands: [
        cancel("silence:iris:1"),
        emit("escalated", "iris", undefined, {
          reason: "model iris could not start: replica iris-1 failed to start: x"
        }),
        start(iris, 2),
        emit("restarted", "iris", 2, { restarts: 1, reason: because("one_for_one") })
      ]
    }
  ]
  it.each(rows)("$name", check)
})
