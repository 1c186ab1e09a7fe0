// The supervisor's /metrics text, parsed by a real Prometheus parser: an actor slot's counts summed
// over its processes (a restart never sets a counter back), histograms cumulative with +Inf, gauges
// from status, supervisor restarts counted from events; and /readyz's verdict from the status.
import { Effect } from "effect"
import { describe, expect, it } from "vitest"
import type { ActorCounters, ActorMetrics } from "../../../src/protocol/ipc.js"
import type { ActorStatus, SupervisorStatus } from "../../../src/protocol/messages.js"
import { readinessOf, readinessText } from "../../../src/supervisor/observability/health.js"
import { makeSupervisorMetrics } from "../../../src/supervisor/observability/supervisorMetrics.js"
import { family, histogram, parseScrape, samples, sampleValue } from "../../helpers/prometheus.js"

const zeros = (n: number) => new Array<number>(n).fill(0)

/** An actor's report: `ok` answers of `seconds` each (bucket 4 holds 0.005 s), `bad` refusals. */
const metricsOf = (ok: number, bad: number): ActorMetrics => {
  const latency = zeros(15)
  latency[3] = ok
  const batch = zeros(10)
  batch[0] = ok
  return {
    outcomes: {
      ok,
      bad_input: bad,
      payload_too_large: 0,
      inference_failed: 0,
      overloaded: 0,
      deadline_exceeded: 0
    },
    queueWait: { counts: latency, sum: ok * 0.001 },
    compute: { counts: latency, sum: ok * 0.002 },
    total: { counts: latency, sum: ok * 0.004 },
    batchSize: { counts: batch, sum: ok }
  }
}

const counters = (ok: number, bad: number): ActorCounters => ({
  version: 3,
  loads: 1,
  served: ok,
  errors: bad,
  inflight: 2,
  calls: ok,
  tensors: 12,
  rssBytes: 1_000_000,
  metrics: metricsOf(ok, bad)
})

const row = (id: string, state: ActorStatus["state"], restarts = 0): ActorStatus => ({
  id,
  model: id.split("-")[0]!,
  pid: 1,
  state,
  version: 3,
  loads: 1,
  restarts,
  served: 0,
  errors: 0,
  inflight: 2,
  tensors: 12,
  rssBytes: 1_000_000
})

const statusOf = (...actors: Array<ActorStatus>): SupervisorStatus => ({
  supervisor: { id: "s1", pid: 1, host: "h" },
  actors
})

const report = (c: ActorCounters) =>
  ({ _tag: "Reported", report: { _tag: "Heartbeat", state: "serving", counters: c } }) as const

describe("supervisor metrics", () => {
  it("sums an actor slot's processes: counters and histograms keep counting across a restart", async () => {
    const m = await Effect.runPromise(makeSupervisorMetrics(["iris"]))
    m.observe("iris-1@s1", 1, report(counters(3, 1)))
    m.observe("iris-1@s1", 1, report(counters(5, 2)))
    m.observe("iris-1@s1", 1, { _tag: "Exited", reason: { kind: "signal", signal: "SIGKILL" } })
    m.observe("iris-1@s1", 2, report(counters(4, 0)))
    const scrape = parseScrape(m.render(statusOf(row("iris-1@s1", "serving", 1))))
    const labels = { model: "iris", actor: "iris-1@s1" }
    expect(family(scrape, "modelbus_requests_total")?.type).toBe("COUNTER")
    expect(sampleValue(scrape, "modelbus_requests_total", { ...labels, outcome: "ok" })).toBe(9)
    expect(sampleValue(scrape, "modelbus_requests_total", { ...labels, outcome: "bad_input" })).toBe(2)
    expect(sampleValue(scrape, "modelbus_requests_total", { ...labels, outcome: "overloaded" })).toBe(0)
    const total = histogram(scrape, "modelbus_request_duration_seconds", labels)
    expect(family(scrape, "modelbus_request_duration_seconds")?.type).toBe("HISTOGRAM")
    expect(total.buckets.get("0.0025")).toBe(0)
    expect(total.buckets.get("0.005")).toBe(9)
    expect(total.buckets.get("10")).toBe(9)
    expect(total.buckets.get("+Inf")).toBe(9)
    expect(total.count).toBe(9)
    expect(total.sum).toBeCloseTo(9 * 0.004)
    for (const name of ["modelbus_queue_wait_seconds", "modelbus_compute_seconds", "modelbus_batch_size"])
      expect(histogram(scrape, name, labels).count, name).toBe(9)
    expect(sampleValue(scrape, "modelbus_model_loads_total", labels)).toBe(2)
    expect(sampleValue(scrape, "modelbus_actor_restarts_total", labels)).toBe(1)
    expect(sampleValue(scrape, "modelbus_inflight_requests", labels)).toBe(2)
    expect(sampleValue(scrape, "modelbus_model_version", labels)).toBe(3)
    expect(sampleValue(scrape, "modelbus_resident_memory_bytes", labels)).toBe(1_000_000)
    expect(sampleValue(scrape, "modelbus_live_tensors", labels)).toBe(12)
    expect(sampleValue(scrape, "modelbus_actor_serving", labels)).toBe(1)
    expect(sampleValue(scrape, "modelbus_model_ready", { model: "iris" })).toBe(1)
  })

  it("keeps standby processes out of every replica series: only the standby gauges count them", async () => {
    const m = await Effect.runPromise(makeSupervisorMetrics(["iris"]))
    const standby = (id: string, state: ActorStatus["state"], rssBytes: number): ActorStatus => ({
      ...row(id, state),
      model: "",
      version: 0,
      loads: 0,
      rssBytes
    })
    const scrape = parseScrape(
      m.render(
        statusOf(
          row("iris-1@s1", "serving"),
          standby("standby-1@s1", "standby", 100),
          standby("standby-2@s1", "starting", 20)
        )
      )
    )
    for (const series of ["modelbus_actor_serving", "modelbus_resident_memory_bytes", "modelbus_requests_total"]) {
      const actors = family(scrape, series)?.metrics.map((s) => (s.labels as Record<string, string>).actor)
      expect(new Set(actors), series).toEqual(new Set(["iris-1@s1"]))
    }
    expect(sampleValue(scrape, "modelbus_standby_ready", {})).toBe(1)
    expect(sampleValue(scrape, "modelbus_standby_resident_memory_bytes", {})).toBe(120)
  })

  it("counts a supervisor's restarts and escalations from its lifecycle events, from 0", async () => {
    const m = await Effect.runPromise(makeSupervisorMetrics(["iris", "digits"]))
    const before = parseScrape(m.render(statusOf()))
    expect(sampleValue(before, "modelbus_supervisor_restarts_total", { supervisor: "iris" })).toBe(0)
    expect(sampleValue(before, "modelbus_supervisor_escalations_total", { supervisor: "digits" })).toBe(0)
    await Effect.runPromise(
      Effect.all([
        m.onEvent("iris", "restarted", "iris-1"),
        m.onEvent("iris", "restarted", "iris-2"),
        m.onEvent("iris", "exited", "iris-2"),
        m.onEvent("iris", "escalated", undefined),
        m.onEvent("iris", "restarted", undefined)
      ])
    )
    const after = parseScrape(m.render(statusOf()))
    expect(sampleValue(after, "modelbus_supervisor_restarts_total", { supervisor: "iris" })).toBe(2)
    expect(sampleValue(after, "modelbus_supervisor_restarts_total", { supervisor: "root" })).toBe(1)
    expect(sampleValue(after, "modelbus_supervisor_escalations_total", { supervisor: "iris" })).toBe(1)
    expect(sampleValue(after, "modelbus_supervisor_escalations_total", { supervisor: "digits" })).toBe(0)
  })

  it("drops the series of actors that are gone and shows a model without a serving replica as not ready", async () => {
    const m = await Effect.runPromise(makeSupervisorMetrics(["iris"]))
    m.observe("iris-2@s1", 1, report(counters(1, 0)))
    expect(
      samples(parseScrape(m.render(statusOf(row("iris-2@s1", "serving")))), "modelbus_requests_total")
    ).toHaveLength(6)
    const scrape = parseScrape(m.render(statusOf(row("iris-1@s1", "restarting"))))
    expect(samples(scrape, "modelbus_requests_total", { actor: "iris-2@s1" })).toHaveLength(0)
    expect(sampleValue(scrape, "modelbus_actor_serving", { actor: "iris-1@s1" })).toBe(0)
    expect(sampleValue(scrape, "modelbus_model_ready", { model: "iris" })).toBe(0)
  })
})

describe("readinessOf", () => {
  it("is ready only while every configured model has a serving replica, and names those that have none", () => {
    const models = ["iris", "digits"]
    expect(readinessOf(statusOf(row("iris-1@s", "serving"), row("digits-1@s", "serving")), models).ready).toBe(true)
    const partly = readinessOf(statusOf(row("iris-1@s", "serving"), row("digits-1@s", "restarting")), models)
    expect(partly).toEqual({ ready: false, notReady: ["digits"] })
    expect(readinessText(partly)).toBe("not ready: digits has no serving replica\n")
    expect(readinessOf(statusOf(), models).notReady).toEqual(["iris", "digits"])
  })

  it("counts a model that scales to zero as ready with no replica: its requests are held while it wakes", () => {
    const node = (name: string, min: number) => ({
      name,
      strategy: "one_for_one",
      intensity: 3,
      periodMs: 10_000,
      state: "running" as const,
      recentRestarts: 0,
      escalations: 0,
      autoscale: { replicas: 0, target: 0, reason: "at target", observed: 0, min, max: 2 }
    })
    const status = { ...statusOf(), tree: { root: node("root", 1), models: [node("iris", 0), node("digits", 1)] } }
    expect(readinessOf(status, ["iris", "digits"])).toEqual({ ready: false, notReady: ["digits"] })
  })
})

describe("autoscale metrics", () => {
  it("renders each autoscaled model's target, replicas and observed load from its status node", async () => {
    const m = await Effect.runPromise(makeSupervisorMetrics(["iris", "plain"]))
    const node = (name: string) => ({
      name,
      strategy: "one_for_one",
      intensity: 3,
      periodMs: 10_000,
      state: "running" as const,
      recentRestarts: 0,
      escalations: 0
    })
    const autoscale = { replicas: 2, target: 3, reason: "load above target", observed: 5.5, min: 1, max: 4 }
    const scrape = parseScrape(
      m.render({
        ...statusOf(row("iris-1@s1", "serving", 1)),
        tree: { root: node("root"), models: [{ ...node("iris"), autoscale }, node("plain")] }
      })
    )
    expect(family(scrape, "modelbus_autoscale_target_replicas")?.type).toBe("GAUGE")
    expect(sampleValue(scrape, "modelbus_autoscale_target_replicas", { model: "iris" })).toBe(3)
    expect(sampleValue(scrape, "modelbus_autoscale_replicas", { model: "iris" })).toBe(2)
    expect(sampleValue(scrape, "modelbus_autoscale_observed_inflight", { model: "iris" })).toBe(5.5)
    // a model without autoscale has no such series
    expect(samples(scrape, "modelbus_autoscale_target_replicas", { model: "plain" })).toEqual([])
  })
})
