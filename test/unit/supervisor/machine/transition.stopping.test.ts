// `transition` called directly on stopping children on purpose: shutdown in reverse start order (each
// awaited), a replacement or a pending restart ended too, and scaling down removing the last children first.
import { describe, expect, it } from "vitest"
import {
  cancel,
  check,
  child,
  emit,
  type Row,
  reply,
  serving,
  start,
  starting,
  supervisorOf,
  terminated,
  worker
} from "./builders.js"

const [a, b, c] = [worker("a"), worker("b"), worker("c")]

describe("shutdown: every child stopped in reverse start order, each awaited, then Stopped", () => {
  const rows: ReadonlyArray<Row> = [
    {
      name: "three serving children: c, b, a",
      state: supervisorOf([
        child(a, { primary: serving(1) }),
        child(b, { primary: serving(2) }),
        child(c, { primary: serving(3) })
      ]),
      event: { _tag: "Shutdown" },
      commands: [
        ...terminated("c", 3, 5_000),
        ...terminated("b", 2, 5_000),
        ...terminated("a", 1, 5_000),
        { _tag: "Stopped" }
      ]
    },
    {
      name: "a child with a replacement starting: the replacement is killed first, then the serving one drains",
      state: supervisorOf([
        child(a, { primary: serving(1) }),
        child(b, { primary: serving(2), successor: { ...starting(4), purpose: "recycle" } })
      ]),
      event: { _tag: "Shutdown" },
      commands: [
        ...terminated("b", 4, "brutal_kill"),
        ...terminated("b", 2, 5_000),
        ...terminated("a", 1, 5_000),
        { _tag: "Stopped" }
      ]
    },
    {
      name: "a child waiting out its backoff: its restart is cancelled",
      state: supervisorOf([child(a, { primary: serving(1) }), child(b, { restartToken: 3 })]),
      event: { _tag: "Shutdown" },
      commands: [cancel("restart:b"), ...terminated("a", 1, 5_000), { _tag: "Stopped" }]
    },
    {
      name: "an operator restart still waiting is answered with what was done, before the stops",
      state: supervisorOf(
        [
          child(a, { primary: serving(1) }),
          child(b, {
            primary: serving(2),
            successor: { ...starting(3), purpose: "restart" },
            waiting: [{ call: 9, after: 2 }]
          })
        ],
        { calls: [[9, { pending: ["b"], done: ["a"] }]] }
      ),
      event: { _tag: "Shutdown" },
      commands: [
        reply(9, ["a"]),
        ...terminated("b", 3, "brutal_kill"),
        ...terminated("b", 2, 5_000),
        ...terminated("a", 1, 5_000),
        { _tag: "Stopped" }
      ]
    },
    {
      name: "a supervisor child is stopped with its own shutdown (as long as its children take)",
      state: supervisorOf([
        child(worker("iris", { type: "supervisor", shutdown: "infinity" }), { primary: serving(1) })
      ]),
      event: { _tag: "Shutdown" },
      commands: [...terminated("iris", 1, "infinity"), { _tag: "Stopped" }]
    }
  ]
  it.each(rows)("$name", (row) =>
    check({
      ...row,
      facts: (state) => {
        expect(state.phase).toBe("stopped")
        expect(state.children.every((x) => x.primary === undefined && x.successor === undefined)).toBe(true)
        expect(state.calls.size).toBe(0)
      }
    })
  )

  it("a stopped supervisor ignores a second shutdown", () =>
    check({
      name: "stopped",
      state: supervisorOf([child(a)], { phase: "stopped" }),
      event: { _tag: "Shutdown" },
      commands: []
    }))
})

describe("scale: added children start at once; removed ones are the last, stopped last-first", () => {
  const replica = (index: number) => worker(`m-${index}`)
  const ofSize = (size: number) =>
    supervisorOf(
      Array.from({ length: size }, (_, i) => child(replica(i + 1), { primary: serving(i + 1) })),
      { template: replica }
    )
  const rows: ReadonlyArray<Row & { readonly ids: ReadonlyArray<string> }> = [
    {
      name: "3 → 1: m-3 then m-2 are stopped",
      state: ofSize(3),
      event: { _tag: "ScaleRequested", call: 5, replicas: 1 },
      commands: [
        ...terminated("m-3", 3, 5_000),
        ...terminated("m-2", 2, 5_000),
        emit("scaled", undefined, undefined, { replicas: 1 }),
        reply(5, ["m-2", "m-3"])
      ],
      ids: ["m-1"]
    },
    {
      name: "1 → 3: m-2 and m-3 start in one step",
      state: ofSize(1),
      event: { _tag: "ScaleRequested", call: 5, replicas: 3 },
      commands: [
        start(replica(2), 2),
        start(replica(3), 3),
        emit("scaled", undefined, undefined, { replicas: 3 }),
        reply(5, ["m-2", "m-3"])
      ],
      ids: ["m-1", "m-2", "m-3"]
    },
    {
      name: "to the same size: nothing to do",
      state: ofSize(2),
      event: { _tag: "ScaleRequested", call: 5, replicas: 2 },
      commands: [reply(5, [])],
      ids: ["m-1", "m-2"]
    },
    {
      name: "a supervisor without a template (the root) does not scale",
      state: supervisorOf([child(a, { primary: serving(1) })]),
      event: { _tag: "ScaleRequested", call: 5, replicas: 3 },
      commands: [reply(5, [])],
      ids: ["a"]
    }
  ]
  it.each(rows)("$name", (row) =>
    check({ ...row, facts: (state) => expect(state.children.map((x) => x.spec.id)).toEqual(row.ids) })
  )
})
