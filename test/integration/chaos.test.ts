// Chaos, bounded in time: a steady load on three replicas while random actors are SIGKILLed every
// 1–2 s for about 20 s. A client on the default retry policy must see no failure and no wrong answer.
import { afterAll, beforeAll, expect, it } from "vitest"
import { type LocalNatsServer, startLocalNatsServer } from "../../src/cli/natsServer.js"
import { type Client, connect, type LifecycleEvent } from "../../src/client/index.js"
import { expectedAnswers, startLoad } from "../helpers/load.js"
import { type CliProcess, IRIS_MODEL, irisRows, startSupervisor } from "../helpers/processes.js"

const CHAOS_MS = 20_000
const REPLICAS = 3

let nats: LocalNatsServer
let client: Client
let supervisor: CliProcess

beforeAll(async () => {
  nats = await startLocalNatsServer()
  client = await connect({ servers: nats.url })
  supervisor = await startSupervisor(nats.url, {
    supervisor: { intensity: 50, period: 10 },
    models: [{ name: "chaos", path: IRIS_MODEL, replicas: REPLICAS, heartbeatMs: 250 }]
  })
})

afterAll(async () => {
  await client?.close()
  expect((await supervisor?.stop())?.code).toBe(0)
  await nats?.stop()
})

const median = (xs: ReadonlyArray<number>) => {
  const s = [...xs].sort((a, b) => a - b)
  return s.length === 0 ? Number.NaN : s[Math.floor((s.length - 1) / 2)]!
}

it("answers every request correctly while actors are SIGKILLed every 1–2 s", async () => {
  const rows = await irisRows()
  const expected = await expectedAnswers(client, "chaos", rows)
  const events: Array<LifecycleEvent> = []
  const unsubscribe = await client.onEvents((e) => events.push(e), "chaos")
  const retriesBefore = client.stats().retries

  const load = startLoad(client, "chaos", rows, expected, 16)
  const kills: Array<{ readonly actor: string; readonly at: number }> = []
  const started = Date.now()
  while (Date.now() - started < CHAOS_MS) {
    await new Promise((resolve) => setTimeout(resolve, 1_000 + Math.random() * 1_000))
    const live = (await client.status())
      .flatMap((s) => s.actors)
      .filter((a) => a.model === "chaos" && a.pid !== null && a.state === "serving")
    const victim = live[Math.floor(Math.random() * live.length)]
    if (victim === undefined) continue
    kills.push({ actor: victim.id, at: Date.now() })
    process.kill(victim.pid!, "SIGKILL")
  }
  const summary = await load.stop()
  unsubscribe()
  const elapsedS = (Date.now() - started) / 1000

  const backInService = kills.flatMap((k) => {
    const next = events.find((e) => e.type === "started" && e.actor === k.actor && e.at > k.at)
    return next === undefined ? [] : [next.at - k.at]
  })
  const loadTimes = events.filter((e) => e.type === "started" && e.loadMs !== undefined).map((e) => e.loadMs!)
  const figures = {
    seconds: Number(elapsedS.toFixed(1)),
    requests: summary.requests,
    requestsPerSecond: Math.round(summary.requests / elapsedS),
    kills: kills.length,
    failures: summary.failures.length,
    wrongAnswers: summary.wrongAnswers,
    retries: client.stats().retries - retriesBefore,
    worstLatencyMs: Math.round(summary.worstMs),
    killToServingMs: {
      median: median(backInService),
      worst: Math.max(...backInService),
      samples: backInService.length
    },
    modelLoadMs: { median: median(loadTimes), worst: Math.max(...loadTimes) }
  }
  console.log(`chaos figures: ${JSON.stringify(figures)}`)

  expect(summary.failures).toEqual([])
  expect(summary.wrongAnswers).toBe(0)
  expect(kills.length).toBeGreaterThanOrEqual(10)
  expect(figures.requestsPerSecond).toBeGreaterThan(100)
  const actors = (await client.status()).flatMap((s) => s.actors).filter((a) => a.model === "chaos")
  expect(actors).toHaveLength(REPLICAS)
  for (const a of actors.filter((x) => x.state === "serving")) expect(a.loads).toBe(1)
  expect(actors.reduce((n, a) => n + a.restarts, 0)).toBe(kills.length)
})
