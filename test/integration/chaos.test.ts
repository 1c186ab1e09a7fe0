// Chaos: a steady load on three replicas while a random serving actor is SIGKILLed every 1–2 s (one
// always left serving), 12 times. A client on the default policy sees no failure and no wrong answer; the requests a dead
// actor held are answered by hedged copies within the budget. p99.9 and max are printed.
import { afterAll, beforeAll, expect, it } from "vitest"
import { type LocalNatsServer, startLocalNatsServer } from "../../src/cli/natsServer.js"
import { type Client, connect, type LifecycleEvent } from "../../src/client/index.js"
import { defaultHedgePolicy } from "../../src/client/latency.js"
import { expectedAnswers, quantile, startLoad } from "../helpers/load.js"
import { type CliProcess, eventually, IRIS_MODEL, irisRows, startSupervisor } from "../helpers/processes.js"

const KILLS = 12
const REPLICAS = 3
/** What a user should see (printed beside the figures; see the assertion below for what is checked). */
const TARGET = { p999Ms: 250, maxMs: 1_000 } as const

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

const median = (xs: ReadonlyArray<number>) => quantile(xs, 0.5)
const serving = async () =>
  (await client.status())
    .flatMap((s) => s.actors)
    .filter((a) => a.model === "chaos" && a.pid !== null && a.state === "serving")

it("answers every request correctly, hedging what the killed actors held, while actors are SIGKILLed every 1–2 s", async () => {
  const rows = await irisRows()
  const expected = await expectedAnswers(client, "chaos", rows)
  await eventually(async () => ((await serving()).length === REPLICAS ? true : undefined), 30_000, "3 replicas")
  const events: Array<LifecycleEvent> = []
  const unsubscribe = await client.onEvents((e) => events.push(e), "chaos")
  const before = client.stats()

  const load = startLoad(client, "chaos", rows, expected, 16)
  const kills: Array<{ readonly actor: string; readonly at: number }> = []
  const started = Date.now()
  while (kills.length < KILLS) {
    await new Promise((resolve) => setTimeout(resolve, 1_000 + Math.random() * 1_000))
    // one replica is always left serving: with every replica down at once (restarts slow on a loaded
    // machine) nobody can answer, and NoResponders after the retries is the right outcome, not chaos
    const live = await serving()
    if (live.length < 2) continue
    const victim = live[Math.floor(Math.random() * live.length)]!
    kills.push({ actor: victim.id, at: Date.now() })
    process.kill(victim.pid!, "SIGKILL")
  }
  // the last victim's requests in flight are recovered too before the load stops
  await new Promise((resolve) => setTimeout(resolve, 1_000))
  const summary = await load.stop()
  unsubscribe()
  const elapsedS = (Date.now() - started) / 1000
  const after = client.stats()

  const backInService = kills.flatMap((k) => {
    const next = events.find((e) => e.type === "started" && e.actor === k.actor && e.at > k.at)
    return next === undefined ? [] : [next.at - k.at]
  })
  const loadTimes = events.filter((e) => e.type === "started" && e.loadMs !== undefined).map((e) => e.loadMs!)
  const requests = after.requests - before.requests
  const hedges = after.hedges - before.hedges
  const figures = {
    seconds: Number(elapsedS.toFixed(1)),
    requests: summary.requests,
    requestsPerSecond: Math.round(summary.requests / elapsedS),
    kills: kills.length,
    failures: summary.failures.length,
    failureSamples: summary.failures.slice(0, 3).map(String),
    wrongAnswers: summary.wrongAnswers,
    retries: after.retries - before.retries,
    hedges,
    hedgesWon: after.hedgesWon - before.hedgesWon,
    latencyMs: {
      p50: Number(median(summary.latencies).toFixed(1)),
      p99: Number(quantile(summary.latencies, 0.99).toFixed(1)),
      p999: Math.round(quantile(summary.latencies, 0.999)),
      max: Math.round(summary.worstMs)
    },
    targetsMet: {
      p999: quantile(summary.latencies, 0.999) <= TARGET.p999Ms,
      max: summary.worstMs <= TARGET.maxMs
    },
    clientP99Ms: after.p99Ms,
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
  // Each kill takes the requests its actor held: hedged copies answered them, within the budget.
  // Before hedging, each of them waited out a flat 5 s attempt (max 10.2 s, p99 5.04 s). How short
  // the tail is now (TARGET) is not asserted: the hedge delay and the attempt timeouts follow the
  // latency the client sees, so on a loaded machine (a restarted actor loading its model beside two
  // serving ones and this process, on 2 cores) they stretch with it, as they are meant to.
  expect(figures.hedgesWon).toBeGreaterThan(0)
  expect(hedges).toBeLessThanOrEqual(defaultHedgePolicy.budget * requests + defaultHedgePolicy.burst)

  const actors = await eventually(
    async () => {
      const now = (await client.status()).flatMap((s) => s.actors).filter((a) => a.model === "chaos")
      return now.length === REPLICAS && now.every((a) => a.state === "serving") ? now : undefined
    },
    30_000,
    "every replica serving again"
  )
  for (const a of actors) expect(a.loads).toBe(1)
  expect(actors.reduce((n, a) => n + a.restarts, 0)).toBe(kills.length)
})
