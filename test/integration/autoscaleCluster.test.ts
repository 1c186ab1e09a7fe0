// Autoscaling on a cluster with no leader, with real processes: two supervisors on one bus running
// the same autoscaled model agree on its total and split it by rank of supervisor id; SIGKILL one
// and the other takes the whole target once the killed one's reports expire.
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { type LocalNatsServer, startLocalNatsServer } from "../../src/cli/natsServer.js"
import { type Client, connect } from "../../src/client/index.js"
import type { LifecycleEvent, SupervisorStatus } from "../../src/protocol/messages.js"
import { type CliProcess, eventually, IRIS_MODEL, startSupervisor } from "../helpers/processes.js"

const config = {
  prefix: "shared",
  supervisor: { maxActors: 4, standby: 0 },
  models: [
    {
      name: "iris",
      path: IRIS_MODEL,
      heartbeatMs: 100,
      replicas: 1,
      // a total of 3 whatever the load: what is tested is how it is split
      autoscale: { min: 3, max: 4, targetInflight: 1_000, upscaleDelayMs: 0, downscaleDelayMs: 60_000, lookbackMs: 300 }
    }
  ]
}

let nats: LocalNatsServer
let client: Client
const supervisors: Array<CliProcess> = []

beforeAll(async () => {
  nats = await startLocalNatsServer()
  supervisors.push(await startSupervisor(nats.url, config), await startSupervisor(nats.url, config))
  client = await connect({ servers: nats.url, prefix: "shared" })
}, 120_000)

afterAll(async () => {
  await client?.close()
  for (const p of supervisors) if (p.child.exitCode === null && p.child.signalCode === null) await p.stop()
  await nats?.stop()
})

const servingOf = (s: SupervisorStatus) => s.actors.filter((a) => a.model === "iris" && a.state === "serving").length

describe("autoscaling across supervisors", () => {
  it("two supervisors split the total by rank of id; one's SIGKILL moves its share to the other", async () => {
    const split = await eventually(
      async () => {
        const statuses = await client.status()
        if (statuses.length !== 2) return undefined
        const settled = statuses.every(
          (s) => s.tree?.models[0]?.autoscale?.cluster?.supervisors === 2 && servingOf(s) === s.actors.length
        )
        return settled && statuses.reduce((n, s) => n + servingOf(s), 0) === 3 ? statuses : undefined
      },
      90_000,
      "3 serving replicas split between the two supervisors"
    )
    const [first, second] = [...split].sort((a, b) => (a.supervisor.id < b.supervisor.id ? -1 : 1))
    // the lower id takes the remainder
    expect([servingOf(first!), servingOf(second!)]).toEqual([2, 1])
    for (const s of split) expect(s.tree?.models[0]?.autoscale?.cluster?.target).toBe(3)

    const events: Array<LifecycleEvent> = []
    const stop = await client.onEvents((e) => {
      if (e.type === "scaled") events.push(e)
    }, "iris")
    try {
      const victim = supervisors.find((p) => p.pid === first!.supervisor.pid)!
      victim.child.kill("SIGKILL")
      const taken = await eventually(
        async () => events.find((e) => e.supervisor === second!.supervisor.id && e.replicas === 3),
        60_000,
        "the survivor scaling to the whole target"
      )
      expect(taken.decidedBy).toBe(`autoscale@${second!.supervisor.id}`)
      expect(taken.target).toBe(3)
      await eventually(
        async () => {
          const survivor = (await client.status()).find((s) => s.supervisor.id === second!.supervisor.id)
          return survivor !== undefined && servingOf(survivor) === 3 ? true : undefined
        },
        60_000,
        "3 serving replicas on the survivor"
      )
    } finally {
      stop()
    }
  }, 180_000)
})
