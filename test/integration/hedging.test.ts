// Hedged attempts and their budget on three real replicas: with every replica answering, hardly a
// request is hedged; with one SIGSTOPped (it holds the requests it is sent, its connection alive),
// the hedges stay within the budget and no request waits out the flat attempt timeout of before.
import { afterAll, beforeAll, expect, it } from "vitest"
import { type LocalNatsServer, startLocalNatsServer } from "../../src/cli/natsServer.js"
import { type Client, connect } from "../../src/client/index.js"
import { defaultHedgePolicy } from "../../src/client/latency.js"
import { DEFAULT_TIMEOUT_MS } from "../../src/client/retry.js"
import { expectedAnswers, quantile, startLoad } from "../helpers/load.js"
import { type CliProcess, eventually, IRIS_MODEL, irisRows, startSupervisor } from "../helpers/processes.js"

const REQUESTS = 3_000
const { budget, burst } = defaultHedgePolicy

let nats: LocalNatsServer
let client: Client
let supervisor: CliProcess
let stopped: number | undefined

beforeAll(async () => {
  nats = await startLocalNatsServer()
  // A third of the attempts meet the stopped replica: with the default 5 attempts, (1/3)^5 of the
  // requests would meet it on every one; 10 attempts make that (1/3)^10, about 1 in 59 000.
  client = await connect({ servers: nats.url, retry: { attempts: 10 } })
  // a stopped replica sends no heartbeat: the supervisor is told to wait longer than this test
  supervisor = await startSupervisor(nats.url, {
    models: [{ name: "hedged", path: IRIS_MODEL, replicas: 3, hangTimeoutMs: 300_000 }]
  })
})

afterAll(async () => {
  if (stopped !== undefined) process.kill(stopped, "SIGCONT")
  await client?.close()
  expect((await supervisor?.stop())?.code).toBe(0)
  await nats?.stop()
})

/** Runs the load until `REQUESTS` more answered; the figures of that stretch. */
const stretch = async (rows: Array<Array<number>>, expected: Array<Array<number>>) => {
  const before = client.stats()
  const load = startLoad(client, "hedged", rows, expected, 12)
  await eventually(async () => (load.summary.requests >= REQUESTS ? true : undefined), 180_000, `${REQUESTS} requests`)
  const summary = await load.stop()
  const after = client.stats()
  return {
    requests: after.requests - before.requests,
    hedges: after.hedges - before.hedges,
    hedgesWon: after.hedgesWon - before.hedgesWon,
    retries: after.retries - before.retries,
    failures: summary.failures.length,
    wrongAnswers: summary.wrongAnswers,
    p50Ms: Number(quantile(summary.latencies, 0.5).toFixed(1)),
    p99Ms: Math.round(quantile(summary.latencies, 0.99)),
    maxMs: Math.round(summary.worstMs),
    clientP99Ms: after.p99Ms === undefined ? undefined : Math.round(after.p99Ms)
  }
}

it("hedges hardly any request when every replica answers, and stays within its budget with one replica stopped", async () => {
  const rows = await irisRows()
  const expected = await expectedAnswers(client, "hedged", rows)
  const replicas = await eventually(
    async () => {
      const now = (await client.status()).flatMap((s) => s.actors).filter((a) => a.model === "hedged")
      return now.length === 3 && now.every((a) => a.state === "serving") ? now : undefined
    },
    60_000,
    "3 replicas serving"
  )
  // the client learns the service's latency first
  await stretch(rows, expected)

  const healthy = await stretch(rows, expected)
  console.log(`hedging, every replica answering: ${JSON.stringify(healthy)}`)
  expect(healthy.failures).toBe(0)
  expect(healthy.wrongAnswers).toBe(0)
  // a hedge waits 2 × the recent p99: only the slowest tail of requests gets one
  expect(healthy.hedges).toBeLessThanOrEqual(0.01 * healthy.requests + burst)

  stopped = replicas[0]!.pid!
  process.kill(stopped, "SIGSTOP")
  const oneStopped = await stretch(rows, expected)
  process.kill(stopped, "SIGCONT")
  stopped = undefined
  console.log(`hedging, one replica of 3 SIGSTOPped: ${JSON.stringify(oneStopped)}`)
  expect(oneStopped.failures).toBe(0)
  expect(oneStopped.wrongAnswers).toBe(0)
  // A third of the attempts go to the stopped replica: the budget hedges at most 5 % of requests
  // (plus its burst), the rest are tried again after an attempt timeout from the latency seen ...
  expect(oneStopped.hedges).toBeGreaterThan(0)
  expect(oneStopped.hedges).toBeLessThanOrEqual(budget * oneStopped.requests + burst)
  // ... so the tail stays far under the flat 5 s attempt every one of them waited before.
  expect(oneStopped.p99Ms).toBeLessThan(DEFAULT_TIMEOUT_MS)
}, 600_000)
