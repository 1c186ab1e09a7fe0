// Autoscaling with real processes on a real nats-server: a load step drives an autoscaled model
// from min to more replicas and, once the load stops, back to min, with no failed request; status,
// lifecycle events and /metrics say what was decided and why; `modelbus scale` is refused for it.
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import type { Client, HostTensor } from "../../src/client/index.js"
import type { LifecycleEvent } from "../../src/protocol/messages.js"
import { expectedAnswers, startLoad } from "../helpers/load.js"
import { type CliProcess, eventually, IRIS_MODEL, irisRows, isAlive, runCli } from "../helpers/processes.js"
import { parseScrape, sampleValue } from "../helpers/prometheus.js"
import { type Stack, startStack } from "../helpers/stack.js"

const portOf = async (supervisor: CliProcess): Promise<number> =>
  Number(/on port (\d+)/.exec(await supervisor.waitForLine(/modelbus metrics: .* on port \d+/))![1])

/** One caller at a time with a pause between its requests: load well below the target, to scale down under. */
const startTrickle = (
  client: Client,
  rows: ReadonlyArray<ReadonlyArray<number>>,
  expected: ReadonlyArray<ReadonlyArray<number>>
) => {
  let running = true
  const summary = { requests: 0, wrongAnswers: 0, failures: [] as Array<unknown> }
  const loop = (async () => {
    for (let i = 0; running; i++) {
      const k = i % rows.length
      try {
        const reply = await client.infer("iris", [rows[k]!])
        const got = Array.from((reply.outputs as HostTensor).data as Float32Array)
        if (got.some((v, j) => v !== expected[k]![j])) summary.wrongAnswers++
      } catch (error) {
        summary.failures.push(error)
      }
      summary.requests++
      // pacing, not a wait for an outcome: it keeps the load below one request in flight
      await new Promise((r) => setTimeout(r, 50))
    }
  })()
  return {
    stop: async () => {
      running = false
      await loop
      return summary
    }
  }
}

const policy = { min: 1, max: 3, targetInflight: 0.5, upscaleDelayMs: 300, downscaleDelayMs: 2_000, lookbackMs: 500 }

describe("autoscaling", () => {
  let stack: Stack
  let port: number
  const events: Array<LifecycleEvent> = []
  let stopEvents: () => void = () => {}

  beforeAll(async () => {
    stack = await startStack(
      {
        metrics: { port: 0 },
        supervisor: { maxActors: 4 },
        models: [{ name: "iris", path: IRIS_MODEL, heartbeatMs: 100, autoscale: policy }]
      },
      { hedge: false }
    )
    port = await portOf(stack.supervisor)
    stopEvents = await stack.client.onEvents((e) => {
      if (e.type === "scaled") events.push(e)
    }, "iris")
  }, 90_000)
  afterAll(async () => {
    stopEvents()
    await stack?.stop()
  })

  const autoscaleStatus = async () => (await stack.client.status())[0]?.tree?.models[0]?.autoscale
  const scaledTo = (check: (replicas: number) => boolean, what: string) =>
    eventually(async () => events.find((e) => check(e.replicas ?? 0)), 90_000, what)

  it("starts at min, idle, and says so in status", async () => {
    const status = await eventually(
      async () => {
        const s = await autoscaleStatus()
        return s?.reason === "at target" ? s : undefined
      },
      30_000,
      "the autoscaler's first decision"
    )
    expect(status).toMatchObject({ replicas: 1, target: 1, min: 1, max: 3 })
    expect(events).toEqual([])
  })

  it("a load step drives replicas from min to at least 2, and back to min after it stops, with no failed request", async () => {
    const rows = await irisRows()
    const expected = await expectedAnswers(stack.client, "iris", rows)
    const load = startLoad(stack.client, "iris", rows, expected, 16)
    let summary: Awaited<ReturnType<typeof load.stop>>
    let pidsUnderLoad: Array<number> = []
    try {
      const up = await scaledTo((n) => n >= 2, "a scaled event to 2 replicas or more")
      expect(up.decidedBy).toBe(`autoscale@${(await stack.client.status())[0]!.supervisor.id}`)
      expect(up.target).toBeGreaterThanOrEqual(2)
      expect(up.observed).toBeGreaterThan(policy.targetInflight)
      expect(up.reason).toMatch(/above target|replicas full/)
      // the new replicas serve under the load before it stops
      await eventually(
        async () => {
          const rowsNow = (await stack.client.status())[0]!.actors.filter((a) => a.model === "iris")
          return rowsNow.filter((a) => a.state === "serving").length >= 2 ? true : undefined
        },
        60_000,
        "two serving replicas"
      )
      const status = await autoscaleStatus()
      expect(status!.target).toBeGreaterThanOrEqual(2)
      const text = await runCli(["status", "--server", stack.nats.url])
      expect(text.output).toMatch(/autoscale: \d → \d \(.+\)/)
      const scrape = parseScrape(await (await fetch(`http://127.0.0.1:${port}/metrics`)).text())
      expect(sampleValue(scrape, "modelbus_autoscale_target_replicas", { model: "iris" })).toBeGreaterThanOrEqual(2)
      expect(sampleValue(scrape, "modelbus_autoscale_observed_inflight", { model: "iris" })).toBeGreaterThanOrEqual(0)
      pidsUnderLoad = (await stack.client.status())[0]!.actors.flatMap((a) =>
        a.model === "iris" && a.pid !== null ? [a.pid] : []
      )
    } finally {
      summary = await load.stop()
    }
    // a trickle goes on while the replicas are removed: each drains before it exits, no request fails
    const trickle = startTrickle(stack.client, rows, expected)
    let light: Awaited<ReturnType<typeof trickle.stop>>
    try {
      const down = await scaledTo((n) => n === 1, "a scaled event back to 1 replica")
      expect(down.reason).toContain("below target")
      expect(down.decidedBy).toMatch(/^autoscale@/)
      // the removed replicas' processes drain their requests and exit while the trickle goes on
      const kept = new Set((await stack.client.status())[0]!.actors.map((a) => a.pid))
      const removed = pidsUnderLoad.filter((pid) => !kept.has(pid))
      expect(removed.length).toBeGreaterThan(0)
      await eventually(
        async () => (removed.every((pid) => !isAlive(pid)) ? true : undefined),
        60_000,
        "the removed replicas' processes to exit"
      )
    } finally {
      light = await trickle.stop()
    }
    expect(summary.requests).toBeGreaterThan(0)
    expect(summary.failures).toEqual([])
    expect(summary.wrongAnswers).toBe(0)
    expect(light.requests).toBeGreaterThan(0)
    expect(light.failures).toEqual([])
    expect(light.wrongAnswers).toBe(0)
    const after = await eventually(
      async () => {
        const rowsNow = (await stack.client.status())[0]!.actors.filter((a) => a.model === "iris")
        return rowsNow.length === 1 ? rowsNow : undefined
      },
      30_000,
      "one replica left"
    )
    expect(after[0]!.state).toBe("serving")
  }, 180_000)

  it("refuses `modelbus scale` on an autoscaled model, naming the policy keys to change", async () => {
    const refused = await runCli(["scale", "iris", "3", "--server", stack.nats.url])
    expect(refused.code).not.toBe(0)
    expect(refused.output).toContain("model iris is autoscaled")
    expect(refused.output).toContain("autoscale.min or autoscale.max")
  })
})

describe("the host budget", () => {
  let stack: Stack

  beforeAll(async () => {
    stack = await startStack(
      {
        supervisor: { maxActors: 2, standby: 0 },
        models: [
          { name: "fixed", path: IRIS_MODEL, replicas: 1 },
          {
            name: "iris",
            path: IRIS_MODEL,
            heartbeatMs: 100,
            autoscale: {
              min: 1,
              max: 2,
              targetInflight: 0.1,
              upscaleDelayMs: 0,
              downscaleDelayMs: 60_000,
              lookbackMs: 300
            }
          }
        ]
      },
      { hedge: false }
    )
  }, 90_000)
  afterAll(() => stack?.stop())

  it("holds a model that wants more inside supervisor.maxActors, and status says which model wanted more", async () => {
    const rows = await irisRows()
    const load = startLoad(stack.client, "iris", rows, await expectedAnswers(stack.client, "iris", rows), 16)
    try {
      const bound = await eventually(
        async () => {
          const node = (await stack.client.status())[0]?.tree?.models.find((m) => m.name === "iris")
          return node?.autoscale?.wantedMore === undefined ? undefined : node
        },
        60_000,
        "the iris autoscaler to report the budget binding"
      )
      expect(bound.autoscale).toMatchObject({ replicas: 1, target: 2, wantedMore: 1 })
      expect(bound.autoscale!.reason).toContain("supervisor.maxActors 2 binds: wanted 1 more")
      const text = await runCli(["status", "--server", stack.nats.url])
      expect(text.output).toMatch(/iris .*autoscale: 1 → 2 \(.*supervisor\.maxActors 2 binds: wanted 1 more\)/)
      const actors = (await stack.client.status())[0]!.actors.filter((a) => a.model === "iris")
      expect(actors).toHaveLength(1)
    } finally {
      const summary = await load.stop()
      expect(summary.failures).toEqual([])
    }
  }, 120_000)
})
