// Supervision with real processes: SIGKILL of an actor is restarted and serving again, restart
// intensity exceeded stops the supervisor non-zero, SIGTERM under load loses no request.
import { join } from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { type LocalNatsServer, startLocalNatsServer } from "../../src/cli/natsServer.js"
import { type Client, connect, NoResponders } from "../../src/client/index.js"
import { eventually, IRIS_MODEL, isAlive, startSupervisor } from "../helpers/processes.js"

let nats: LocalNatsServer
let client: Client

beforeAll(async () => {
  nats = await startLocalNatsServer()
  client = await connect({ servers: nats.url })
})

afterAll(async () => {
  await client?.close()
  await nats?.stop()
})

const actorsOf = async (model: string) =>
  (await client.status()).flatMap((s) => s.actors).filter((a) => a.model === model)

describe("supervision", () => {
  it("restarts an actor killed with SIGKILL: new pid serving, that slot's restarts is 1", async () => {
    const supervisor = await startSupervisor(nats.url, { models: [{ name: "kill-me", path: IRIS_MODEL, replicas: 2 }] })
    try {
      const [victim, survivor] = await actorsOf("kill-me")
      process.kill(victim!.pid!, "SIGKILL")
      const replaced = await eventually(
        async () => {
          const slot = (await actorsOf("kill-me")).find((a) => a.id === victim!.id)
          return slot !== undefined && slot.pid !== victim!.pid && slot.state === "serving" ? slot : undefined
        },
        10_000,
        "the killed slot to serve again under a new pid"
      )
      expect(replaced.restarts).toBe(1)
      expect(replaced.loads).toBe(1)
      expect(replaced.lastExit).toBe("killed by SIGKILL")
      expect(isAlive(victim!.pid!)).toBe(false)
      const other = (await actorsOf("kill-me")).find((a) => a.id === survivor!.id)!
      expect(other.pid).toBe(survivor!.pid)
      expect(other.restarts).toBe(0)
      const replies = await client.inferMany(
        "kill-me",
        Array.from({ length: 20 }, () => [[5.1, 3.5, 1.4, 0.2]])
      )
      expect(new Set(replies.map((r) => r.actor))).toEqual(new Set([victim!.id, survivor!.id]))
    } finally {
      expect((await supervisor.stop()).code).toBe(0)
    }
  })

  it("a model that cannot load ends supervise at once: exit 1, one line naming the model and the cause (defect 2)", async () => {
    const missing = join(IRIS_MODEL, "does-not-exist")
    const supervisor = await startSupervisor(
      nats.url,
      {
        supervisor: { intensity: 10, period: 60 },
        models: [
          { name: "fine", path: IRIS_MODEL, replicas: 1 },
          { name: "broken", path: missing, replicas: 2, supervisor: { intensity: 10, period: 60 } }
        ]
      },
      { waitReady: false }
    )
    const exit = await supervisor.exited
    expect(exit.code).toBe(1)
    const failures = supervisor
      .output()
      .split("\n")
      .filter((line) => line.startsWith("modelbus: "))
    expect(failures).toHaveLength(1)
    expect(failures[0]).toMatch(
      /^modelbus: StartFailed: model broken could not start: replica broken-[12] failed to start: ModelLoadFailed: .*no model folder at /
    )
    expect(failures[0]).toContain(missing)
    expect(supervisor.output()).not.toMatch(/modelbus ready/)
    await expect(client.infer("fine", [[5.1, 3.5, 1.4, 0.2]], { retry: false })).rejects.toBeInstanceOf(NoResponders)
  })

  it("escalates to the root when a model supervisor gives up, and exits non-zero when the root does", async () => {
    const supervisor = await startSupervisor(nats.url, {
      supervisor: { intensity: 1, period: 60 },
      models: [
        { name: "fine", path: IRIS_MODEL, replicas: 1 },
        { name: "fragile", path: IRIS_MODEL, replicas: 1, supervisor: { intensity: 0 } }
      ]
    })
    const killServing = async () => {
      const victim = await eventually(
        async () => (await actorsOf("fragile")).find((a) => a.state === "serving" && a.pid !== null),
        30_000,
        "a serving fragile replica"
      )
      process.kill(victim.pid!, "SIGKILL")
      return victim.pid!
    }
    const first = await killServing()
    const second = await eventually(
      async () => {
        const actor = (await actorsOf("fragile")).find((a) => a.state === "serving" && a.pid !== first)
        return actor?.pid ?? undefined
      },
      30_000,
      "the root to start fragile's supervisor again"
    )
    process.kill(second, "SIGKILL")
    const exit = await supervisor.exited
    expect(exit.code).toBe(1)
    const output = supervisor.output()
    expect(output.match(/message="escalated fragile"/g)).toHaveLength(2)
    expect(output).toMatch(
      /modelbus: IntensityExceeded: root supervisor gave up: more than 1 restarts within 60 s \(last: model fragile gave up: more than 0 restarts within 60 s \(last: replica fragile-1 killed by SIGKILL\)\)/
    )
    await expect(client.infer("fine", [[5.1, 3.5, 1.4, 0.2]], { retry: false })).rejects.toBeInstanceOf(NoResponders)
  })

  it("drains on SIGTERM under load: every request is answered or refused at once, none lost", async () => {
    const supervisor = await startSupervisor(nats.url, { models: [{ name: "drain", path: IRIS_MODEL, replicas: 2 }] })
    const actors = await actorsOf("drain")
    const rows = Array.from({ length: 64 }, (_, i) => [
      [4 + (i % 30) / 10, 3, 1.4 + (i % 40) / 10, 0.2 + (i % 20) / 10]
    ])
    let stop = false
    const outcomes = { ok: 0, noResponders: 0, other: [] as Array<unknown> }
    const worker = async () => {
      while (!stop) {
        const results = await Promise.allSettled(rows.map((r) => client.infer("drain", r, { timeoutMs: 15_000 })))
        for (const r of results) {
          if (r.status === "fulfilled") outcomes.ok++
          else if (r.reason instanceof NoResponders) {
            outcomes.noResponders++
            stop = true
          } else outcomes.other.push(r.reason)
        }
      }
    }
    const load = [worker(), worker(), worker(), worker()]
    await eventually(async () => (outcomes.ok >= 500 ? true : undefined), 20_000, "500 answered requests")
    const exit = await supervisor.stop()
    await Promise.all(load)
    expect(exit.code).toBe(0)
    expect(outcomes.other).toEqual([])
    expect(outcomes.ok).toBeGreaterThanOrEqual(500)
    for (const a of actors) expect(isAlive(a.pid!)).toBe(false)
    expect(supervisor.output()).not.toMatch(/killed by SIGKILL/)
  })
})
