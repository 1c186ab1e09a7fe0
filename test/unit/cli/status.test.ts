// The status tree and event lines as printed by the CLI (pure rendering).
import { describe, expect, it } from "vitest"
import { formatEvent } from "../../../src/cli/operate.js"
import { formatUptime, mergeStatuses, renderTree } from "../../../src/cli/status.js"
import type { SupervisorStatus } from "../../../src/protocol/messages.js"

const node = (name: string) => ({
  name,
  strategy: "one_for_one",
  intensity: 3,
  periodMs: 10_000,
  state: "running" as const,
  recentRestarts: 0,
  escalations: 0
})
const actor = (id: string, model: string, extra: object = {}) => ({
  id,
  model,
  pid: 100,
  state: "serving" as const,
  version: 1,
  loads: 1,
  restarts: 0,
  served: 5,
  errors: 0,
  inflight: 0,
  tensors: 6,
  rssBytes: 1,
  startedAt: 0,
  ...extra
})
const status: SupervisorStatus = {
  supervisor: { id: "abc123", pid: 42, host: "box", startedAt: 0 },
  actors: [
    actor("iris-1@abc123", "iris"),
    actor("iris-2@abc123", "iris", { restarts: 1, lastExit: "killed by SIGKILL" }),
    actor("mnist-1@abc123", "mnist")
  ],
  tree: { root: node("root"), models: [{ ...node("iris"), escalations: 1 }, node("mnist")] }
}

describe("renderTree", () => {
  it("draws root, model supervisors and replicas with uptime, restarts and last exit", () => {
    expect(renderTree([status], 65_000).split("\n")).toEqual([
      "supervisor abc123  pid 42 on box  up 1m05s",
      "root  one_for_one  intensity 3/10s  running  recent restarts 0",
      "├─ iris  one_for_one  intensity 3/10s  running  recent restarts 0  escalations 1",
      "│  ├─ iris-1@abc123  pid 100  serving  up 1m05s  v1  loads 1  restarts 0  served 5  errors 0  inflight 0",
      "│  └─ iris-2@abc123  pid 100  serving  up 1m05s  v1  loads 1  restarts 1  served 5  errors 0  inflight 0  last exit: killed by SIGKILL",
      "└─ mnist  one_for_one  intensity 3/10s  running  recent restarts 0",
      "   └─ mnist-1@abc123  pid 100  serving  up 1m05s  v1  loads 1  restarts 0  served 5  errors 0  inflight 0"
    ])
    expect(renderTree([], 0)).toBe("no supervisor answered")
  })

  it("shows an autoscaled model's replicas, target and reason on its supervisor's line", () => {
    const autoscale = { replicas: 2, target: 4, reason: "load above target for 2000 ms", observed: 7.5, min: 1, max: 4 }
    const scaled: SupervisorStatus = {
      ...status,
      actors: [actor("iris-1@abc123", "iris")],
      tree: { root: node("root"), models: [{ ...node("iris"), autoscale }] }
    }
    expect(renderTree([scaled], 65_000).split("\n")[2]).toBe(
      "└─ iris  one_for_one  intensity 3/10s  running  recent restarts 0  autoscale: 2 → 4 (load above target for 2000 ms)"
    )
  })

  it("draws a supervisor's standby processes after its models, with pid, state, uptime and memory", () => {
    const withStandbys: SupervisorStatus = {
      ...status,
      actors: [
        actor("iris-1@abc123", "iris"),
        actor("standby-1@abc123", "", { state: "standby", pid: 201, rssBytes: 150 * 1024 * 1024, startedAt: 60_000 }),
        actor("standby-2@abc123", "", { state: "starting", pid: 202, rssBytes: 0, startedAt: 64_000 })
      ],
      tree: { root: node("root"), models: [node("iris")] }
    }
    expect(renderTree([withStandbys], 65_000).split("\n")).toEqual([
      "supervisor abc123  pid 42 on box  up 1m05s",
      "root  one_for_one  intensity 3/10s  running  recent restarts 0",
      "├─ iris  one_for_one  intensity 3/10s  running  recent restarts 0",
      "│  └─ iris-1@abc123  pid 100  serving  up 1m05s  v1  loads 1  restarts 0  served 5  errors 0  inflight 0",
      "├─ standby-1@abc123  pid 201  standby  up 5s  rss 150 MB",
      "└─ standby-2@abc123  pid 202  starting  up 1s  rss 0 MB"
    ])
    // without the tree (an older supervisor), a standby is no model
    const { tree: _, ...withoutTree } = withStandbys
    expect(renderTree([withoutTree], 65_000)).not.toMatch(/^[├└]─ $/m)
  })

  it("names each actor's supervisor when merging", () => {
    expect(mergeStatuses([status]).every((a) => a.supervisor === "abc123")).toBe(true)
  })

  it("formats uptimes in the two largest units", () => {
    expect([0, 12_000, 245_000, 3 * 3600_000 + 12 * 60_000, 2 * 86400_000 + 3600_000].map(formatUptime)).toEqual([
      "0s",
      "12s",
      "4m05s",
      "3h12m",
      "2d01h"
    ])
  })
})

describe("formatEvent", () => {
  it("prints one readable line, or the JSON event", () => {
    const e = {
      type: "exited" as const,
      model: "iris",
      supervisor: "abc123",
      at: 0,
      actor: "iris-1@abc123",
      pid: 7,
      reason: "killed by SIGKILL"
    }
    expect(formatEvent(e, false)).toBe(
      '1970-01-01T00:00:00.000Z iris exited actor=iris-1@abc123 pid=7 reason="killed by SIGKILL" supervisor=abc123'
    )
    expect(JSON.parse(formatEvent(e, true))).toEqual(e)
  })
})
