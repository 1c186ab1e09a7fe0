// Where a call's attempts and hedges go, as a table: the queue group first; a retry or a hedge to the
// replica heard from within the last second; back to the group after an attempt sent to a replica failed.
import { describe, expect, it } from "vitest"
import {
  attemptReplica,
  type Heard,
  heardReplicas,
  hedgeReplica,
  RECENT_MS,
  recentReplica
} from "../../../src/client/replicaChoice.js"

const NOW = 10_000
const fresh: Heard = { actor: "iris-2@b", at: NOW - 50 }
const stale: Heard = { actor: "iris-2@b", at: NOW - RECENT_MS - 1 }
const edge: Heard = { actor: "iris-2@b", at: NOW - RECENT_MS }

describe("attemptReplica", () => {
  it.each([
    ["the first attempt, a replica heard just now", 1, undefined, fresh, undefined],
    ["a retry, nobody heard yet", 2, undefined, undefined, undefined],
    ["a retry, a replica heard just now", 2, undefined, fresh, "iris-2@b"],
    ["a retry, a replica heard exactly a second ago", 3, undefined, edge, "iris-2@b"],
    ["a retry, a replica heard over a second ago", 2, undefined, stale, undefined],
    ["a retry after an attempt sent to a replica", 3, "iris-2@b", fresh, undefined],
    ["a retry after an attempt sent to another replica", 4, "iris-1@a", fresh, undefined],
    ["the last retry, a replica heard just now", 5, undefined, fresh, "iris-2@b"]
  ] as const)("%s → %s", (_case, n, previous, heard, expected) => {
    expect(attemptReplica(n, previous, heard, NOW)).toBe(expected)
  })

  it("alternates replica and queue group while a replica keeps being heard from", () => {
    let previous: string | undefined
    const route: Array<string | undefined> = []
    for (let n = 1; n <= 5; n++) {
      previous = attemptReplica(n, previous, fresh, NOW)
      route.push(previous)
    }
    expect(route).toEqual([undefined, "iris-2@b", undefined, "iris-2@b", undefined])
  })
})

describe("hedgeReplica", () => {
  it.each([
    ["an attempt sent to the group, a replica heard just now", undefined, fresh, "iris-2@b"],
    ["an attempt sent to the group, nobody heard yet", undefined, undefined, undefined],
    ["an attempt sent to the group, a replica heard over a second ago", undefined, stale, undefined],
    ["an attempt sent to a replica", "iris-2@b", fresh, undefined]
  ] as const)("%s → %s", (_case, attempt, heard, expected) => {
    expect(hedgeReplica(attempt, heard, NOW)).toBe(expected)
  })
})

describe("recentReplica", () => {
  it("takes the window it is given", () => {
    expect(recentReplica(fresh, NOW, 10)).toBeUndefined()
    expect(recentReplica(fresh, NOW, 50)).toBe("iris-2@b")
  })
})

describe("heardReplicas", () => {
  it("remembers who answered each model last, and forgets a replica that failed only while it is the one remembered", () => {
    const replicas = heardReplicas()
    expect(replicas.last("iris")).toBeUndefined()
    replicas.heard("iris", "iris-1@a", 1)
    replicas.heard("iris", "iris-2@b", 2)
    replicas.heard("tokens", "tokens-1@a", 3)
    expect(replicas.last("iris")).toEqual({ actor: "iris-2@b", at: 2 })
    replicas.failed("iris", "iris-1@a")
    expect(replicas.last("iris")).toEqual({ actor: "iris-2@b", at: 2 })
    replicas.failed("iris", "iris-2@b")
    expect(replicas.last("iris")).toBeUndefined()
    expect(replicas.last("tokens")).toEqual({ actor: "tokens-1@a", at: 3 })
  })

  it("forgets every replica when the connection they were heard through is lost", () => {
    const replicas = heardReplicas()
    replicas.heard("iris", "iris-1@a", 1)
    replicas.heard("tokens", "tokens-1@a", 2)
    expect(replicas.connection()).toBe(0)
    replicas.forgetAll()
    expect([replicas.last("iris"), replicas.last("tokens")]).toEqual([undefined, undefined])
    expect(replicas.connection()).toBe(1)
    replicas.heard("iris", "iris-2@b", 3)
    expect(replicas.last("iris")).toEqual({ actor: "iris-2@b", at: 3 })
  })
})
