// `transition` called directly on a supervisor's start: every child is started at once (none waits for
// another to serve), the start ends when all serve, and a child that ends before it served fails the start.
import { describe, expect, it } from "vitest"
import {
  at,
  cancel,
  check,
  child,
  childOf,
  emit,
  exited,
  fail,
  killed,
  log,
  type Row,
  ready,
  serving,
  silenceTimer,
  start,
  starting,
  supervisorChild,
  supervisorOf,
  terminated,
  worker
} from "./builders.js"

const [a, b, c] = [worker("a"), worker("b"), worker("c")]

describe("Init: every child is started at once, in start order", () => {
  const timed = worker("t", { hangTimeoutMs: 2_000, startTimeoutMs: 10_000 })
  const rows: ReadonlyArray<Row> = [
    {
      name: "three children: three starts in one step, before any serves",
      state: supervisorOf([child(a), child(b), child(c)], { phase: "starting" }),
      event: { _tag: "Init" },
      env: at(0),
      commands: [start(a, 1), start(b, 2), start(c, 3)],
      facts: (state) => {
        expect(state.children.map((x) => x.primary?.state)).toEqual(["starting", "starting", "starting"])
        expect(state.phase).toBe("starting")
      }
    },
    {
      name: "a child with a hang timeout is given its start timeout until it first reports",
      state: supervisorOf([child(timed), child(a)], { phase: "starting" }),
      event: { _tag: "Init" },
      env: at(0),
      commands: [start(timed, 1), silenceTimer("t", 1, 10_000), start(a, 2)]
    },
    {
      name: "no children: started at once",
      state: supervisorOf([], { phase: "starting" }),
      event: { _tag: "Init" },
      env: at(0),
      commands: [{ _tag: "Started" }]
    }
  ]
  it.each(rows)("$name", check)
})

describe("the start ends when every child serves", () => {
  const rows: ReadonlyArray<Row> = [
    {
      name: "one of two serves: the supervisor is still starting",
      state: supervisorOf([child(a, { primary: starting(1) }), child(b, { primary: starting(2) })], {
        phase: "starting"
      }),
      event: ready("b", 2, 812.4),
      commands: [emit("started", "b", 2, { loadMs: 812 })],
      facts: (state) => expect(state.phase).toBe("starting")
    },
    {
      name: "the last one serves: Started",
      state: supervisorOf([child(a, { primary: starting(1) }), child(b, { primary: serving(2) })], {
        phase: "starting"
      }),
      event: ready("a", 1),
      commands: [emit("started", "a", 1), { _tag: "Started" }],
      facts: (state) => expect([state.phase, childOf(state, "a").primary?.state]).toEqual(["running", "serving"])
    },
    {
      name: "a nested supervisor that has started emits nothing of its own (its replicas did)",
      state: supervisorOf([child(supervisorChild("iris"), { primary: starting(1) })], {
        name: "root",
        label: "root supervisor",
        phase: "starting"
      }),
      event: ready("iris", 1),
      commands: [{ _tag: "Started" }]
    }
  ]
  it.each(rows)("$name", check)
})

describe("start failure: a child that ends before it served fails the start; nothing is restarted", () => {
  const halfStarted = supervisorOf([child(a, { primary: serving(1) }), child(b, { primary: starting(2) })], {
    phase: "starting"
  })
  const gaveUpStarting = (message: string, reason: string) => [
    cancel("silence:b:2"),
    emit("exited", "b", 2, { reason }),
    ...terminated("a", 1, 5_000),
    log("error", message),
    fail("startFailed", message)
  ]
  const rows: ReadonlyArray<Row> = [
    {
      name: "it could not start: the others are stopped and the supervisor fails with the cause",
      state: halfStarted,
      event: exited("b", 2, { kind: "startFailed", message: "ModelLoadFailed: no model folder" }),
      commands: gaveUpStarting(
        "model m could not start: replica b failed to start: ModelLoadFailed: no model folder",
        "failed to start: ModelLoadFailed: no model folder"
      )
    },
    {
      name: "it crashed while loading",
      state: halfStarted,
      event: exited("b", 2, { kind: "code", code: 1 }),
      commands: gaveUpStarting(
        "model m could not start: replica b exited with code 1 before it served",
        "exited with code 1"
      )
    },
    {
      name: "a model's supervisor that could not start: its own account goes up as it is",
      state: supervisorOf(
        [
          child(supervisorChild("cnn"), { primary: serving(1) }),
          child(supervisorChild("iris"), { primary: starting(2) })
        ],
        { name: "root", label: "root supervisor", phase: "starting" }
      ),
      event: exited("iris", 2, {
        kind: "startFailed",
        message: "model iris could not start: replica iris-1 failed to start: ModelLoadFailed: x"
      }),
      commands: [
        cancel("silence:iris:2"),
        emit("escalated", "iris", undefined, {
          reason: "model iris could not start: replica iris-1 failed to start: ModelLoadFailed: x"
        }),
        ...terminated("cnn", 1, "infinity"),
        log("error", "model iris could not start: replica iris-1 failed to start: ModelLoadFailed: x"),
        fail("startFailed", "model iris could not start: replica iris-1 failed to start: ModelLoadFailed: x")
      ]
    },
    {
      name: "a child that already served and crashes while a sibling still starts is restarted as usual",
      state: halfStarted,
      event: killed("a", 1),
      commands: [
        cancel("silence:a:1"),
        emit("exited", "a", 1, { reason: "killed by SIGKILL" }),
        start(a, 3),
        emit("restarted", "a", 3, { restarts: 1 })
      ],
      facts: (state) => expect(state.phase).toBe("starting")
    }
  ]
  it.each(rows)("$name", (row) =>
    check({
      ...row,
      facts:
        row.facts ??
        ((state) => {
          expect(state.phase).toBe("failed")
          expect(state.restarts).toEqual([])
          expect(state.children.map((x) => x.primary)).toEqual([undefined, undefined])
        })
    })
  )
})
