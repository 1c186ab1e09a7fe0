// /metrics with a canary: the request counter and request latency carry `version` (stable, and candidate
// once a candidate answered on that actor), the candidate's part summed over the slot's processes, and the
// stable series are the rest; an actor that never ran a candidate has the stable series only.
import { Effect } from "effect"
import { describe, expect, it } from "vitest"
import type { ActorCounters, ActorMetrics } from "../../../src/protocol/ipc.js"
import type { ActorStatus } from "../../../src/protocol/messages.js"
import { makeSupervisorMetrics } from "../../../src/supervisor/observability/supervisorMetrics.js"
import { histogram, parseScrape, samples, sampleValue } from "../../helpers/prometheus.js"

const zeros = (n: number) => new Array<number>(n).fill(0)
const outcomes = (ok: number, failed = 0) => ({
  ok,
  bad_input: 0,
  payload_too_large: 0,
  inference_failed: failed,
  overloaded: 0,
  deadline_exceeded: 0
})
/** `n` latencies in bucket `i`. */
const latency = (i: number, n: number) => {
  const counts = zeros(15)
  counts[i] = n
  return { counts, sum: n * 0.001 }
}

/** `ok` answers in all (bucket 3), `candidate` of them by a candidate (bucket 5), one candidate failure. */
const metricsOf = (ok: number, candidate: number): ActorMetrics => {
  const total = latency(3, ok - candidate)
  total.counts[5] = candidate
  return {
    outcomes: outcomes(ok, candidate > 0 ? 1 : 0),
    queueWait: latency(3, ok),
    compute: latency(3, ok),
    total,
    batchSize: { counts: zeros(10), sum: 0 },
    ...(candidate > 0 ? { candidate: { outcomes: outcomes(candidate, 1), total: latency(5, candidate) } } : {})
  }
}

const counters = (metrics: ActorMetrics): ActorCounters => ({
  version: 3,
  loads: 2,
  served: 0,
  errors: 0,
  inflight: 0,
  calls: 0,
  tensors: 1,
  rssBytes: 1,
  metrics
})

const row = (id: string): ActorStatus => ({
  id,
  model: "iris",
  pid: 1,
  state: "serving",
  version: 3,
  loads: 2,
  restarts: 0,
  served: 0,
  errors: 0,
  inflight: 0,
  tensors: 1,
  rssBytes: 1
})

const report = (m: ActorMetrics) =>
  ({ _tag: "Reported", report: { _tag: "Heartbeat", state: "serving", counters: counters(m) } }) as const

describe("metrics by version", () => {
  it("splits requests and latencies into stable and candidate, summed over the slot's processes", async () => {
    const m = await Effect.runPromise(makeSupervisorMetrics(["iris"]))
    m.observe("iris-1@s1", 1, report(metricsOf(10, 4)))
    m.observe("iris-1@s1", 1, { _tag: "Exited", reason: { kind: "signal", signal: "SIGKILL" } })
    m.observe("iris-1@s1", 2, report(metricsOf(6, 2)))
    m.observe("iris-2@s1", 1, report(metricsOf(7, 0)))
    const scrape = parseScrape(
      m.render({ supervisor: { id: "s1", pid: 1, host: "h" }, actors: [row("iris-1@s1"), row("iris-2@s1")] })
    )
    const one = { actor: "iris-1@s1" }
    expect(sampleValue(scrape, "modelbus_requests_total", { ...one, outcome: "ok", version: "candidate" })).toBe(6)
    expect(sampleValue(scrape, "modelbus_requests_total", { ...one, outcome: "ok", version: "stable" })).toBe(10)
    expect(
      sampleValue(scrape, "modelbus_requests_total", { ...one, outcome: "inference_failed", version: "candidate" })
    ).toBe(2)
    expect(
      sampleValue(scrape, "modelbus_requests_total", { ...one, outcome: "inference_failed", version: "stable" })
    ).toBe(0)
    const candidate = histogram(scrape, "modelbus_request_duration_seconds", { ...one, version: "candidate" })
    const stable = histogram(scrape, "modelbus_request_duration_seconds", { ...one, version: "stable" })
    expect(candidate.count).toBe(6)
    expect(stable.count).toBe(10)
    // the stable series hold none of the candidate's slower bucket
    expect(stable.buckets.get("0.005")).toBe(10)
    expect(candidate.buckets.get("0.005")).toBe(0)
    expect(candidate.buckets.get("0.025")).toBe(6)
    // an actor that never ran a candidate has no candidate series
    expect(samples(scrape, "modelbus_requests_total", { actor: "iris-2@s1", version: "candidate" })).toHaveLength(0)
    expect(sampleValue(scrape, "modelbus_requests_total", { actor: "iris-2@s1", outcome: "ok" })).toBe(7)
    // the label takes two values only
    const versions = new Set(samples(scrape, "modelbus_requests_total").map((s) => s.labels?.version))
    expect([...versions].sort()).toEqual(["candidate", "stable"])
  })
})
