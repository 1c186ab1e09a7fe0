// An actor's admission on a fake queue group: requests refused (and counted) past the limit, the group
// left when full and joined again at the low-water mark, idle told each time the last request is
// answered, and a drain that leaves for good and resolves once the last request taken is answered.
import { describe, expect, it } from "vitest"
import { makeAdmission, type QueueGroup } from "../../../src/actors/admission.js"

/** A queue group that records joins and leaves; each leave resolves when the test says its subscription drained. */
const fakeGroup = () => {
  const log: Array<"join" | "leave"> = []
  const drains: Array<() => void> = []
  const group: QueueGroup = {
    join: () => void log.push("join"),
    leave: () => {
      log.push("leave")
      return new Promise<void>((resolve) => drains.push(resolve))
    }
  }
  /** The last leave's subscription has delivered its last message. */
  const drained = () => drains.shift()?.()
  return { group, log, drained }
}

/** Whether `promise` has settled, after the microtasks queued so far ran. */
const settled = async (promise: Promise<unknown>) => {
  let done = false
  void promise.then(() => (done = true))
  await new Promise<void>((resolve) => setImmediate(resolve))
  return done
}

describe("makeAdmission", () => {
  it("admits up to the limit, refuses past it and counts each refusal, admits again once a place is given back", () => {
    const a = makeAdmission(3)
    expect([a.admit(), a.admit(), a.admit()]).toEqual([true, true, true])
    expect([a.admit(), a.admit()]).toEqual([false, false])
    expect(a.counters()).toEqual({ inflight: 3, overloaded: 2, leftQueueGroup: 0 })
    a.release(1)
    expect(a.admit()).toBe(true)
    expect(a.counters()).toEqual({ inflight: 3, overloaded: 2, leftQueueGroup: 0 })
  })

  it("joins when opened, leaves when the last place is taken, and rejoins only at the low-water mark", () => {
    const a = makeAdmission(8)
    const g = fakeGroup()
    a.open(g.group)
    expect([g.log, a.joined(), a.rejoinAt]).toEqual([["join"], true, 6])
    for (let i = 0; i < 7; i++) a.admit()
    expect(g.log).toEqual(["join"])
    a.admit()
    expect([g.log, a.joined()]).toEqual([["join", "leave"], false])
    // a request already delivered by the subscription being left still finds the actor full
    expect(a.admit()).toBe(false)
    a.release(1)
    expect([a.inflight(), a.joined()]).toEqual([7, false])
    a.release(1)
    expect([a.inflight(), a.joined()]).toEqual([6, true])
    expect(g.log).toEqual(["join", "leave", "join"])
    expect(a.counters()).toEqual({ inflight: 6, overloaded: 1, leftQueueGroup: 1 })
  })

  it("counts every time it left the group because it was full", () => {
    const a = makeAdmission(2)
    const g = fakeGroup()
    a.open(g.group)
    for (let round = 0; round < 3; round++) {
      a.admit()
      a.admit()
      a.release(2)
    }
    expect(g.log).toEqual(["join", "leave", "join", "leave", "join", "leave", "join"])
    expect(a.counters().leftQueueGroup).toBe(3)
  })

  it("is idle while it holds no request, and tells each listener every time it becomes idle, until stopped", () => {
    const a = makeAdmission(4)
    const told: Array<string> = []
    const stopFirst = a.onIdle(() => told.push("first"))
    a.onIdle(() => told.push(`second at ${a.inflight()}`))
    expect(a.idle()).toBe(true)
    a.admit()
    a.admit()
    expect(a.idle()).toBe(false)
    a.release(1)
    expect(told).toEqual([])
    a.release(1)
    expect([a.idle(), told]).toEqual([true, ["first", "second at 0"]])
    stopFirst()
    a.admit()
    a.release(1)
    expect(told).toEqual(["first", "second at 0", "second at 0"])
  })

  it("drains: leaves for good, waits for the subscription to deliver its last messages, then for the last answer", async () => {
    const a = makeAdmission(8)
    const g = fakeGroup()
    a.open(g.group)
    a.admit()
    const drain = a.drain()
    expect([g.log, a.joined()]).toEqual([["join", "leave"], false])
    // delivered while the subscription drains: admitted and answered like any other
    a.admit()
    a.release(2)
    expect(await settled(drain)).toBe(false)
    g.drained()
    expect(await settled(drain)).toBe(true)
    expect(g.log).toEqual(["join", "leave"])
  })

  it("drain resolves when the last request taken is answered, not before; no rejoin meanwhile", async () => {
    const a = makeAdmission(2)
    const g = fakeGroup()
    a.open(g.group)
    a.admit()
    a.admit()
    expect(g.log).toEqual(["join", "leave"])
    const drain = a.drain()
    g.drained()
    expect(await settled(drain)).toBe(false)
    a.release(1)
    expect(await settled(drain)).toBe(false)
    a.release(1)
    expect(await settled(drain)).toBe(true)
    expect(g.log).toEqual(["join", "leave"])
    expect(a.drain()).toBe(drain)
  })
})
