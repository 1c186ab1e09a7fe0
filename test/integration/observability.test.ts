// A real supervisor with `metrics: { port: 0 }`: /metrics parsed by a Prometheus text parser moves
// with traffic (requests by outcome, latency histograms); /healthz answers; /readyz turns 503 naming
// the model when it has no serving replica and 200 again once one serves; traces reach an OTLP receiver.
import { createServer, type Server } from "node:http"
import type { AddressInfo } from "node:net"
import { Effect } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { type LocalNatsServer, startLocalNatsServer } from "../../src/cli/natsServer.js"
import { ModelClient } from "../../src/client/ModelClient.js"
import { type CliProcess, eventually, IRIS_MODEL, runCli, spawnCli, writeConfig } from "../helpers/processes.js"
import { histogram, parseScrape, sampleValue } from "../helpers/prometheus.js"
import { type Stack, startStack } from "../helpers/stack.js"

const ROW = [[5.1, 3.5, 1.4, 0.2]]

const portOf = async (supervisor: CliProcess): Promise<number> =>
  Number(/on port (\d+)/.exec(await supervisor.waitForLine(/modelbus metrics: .* on port \d+/))![1])

const get = async (port: number, path: string) => {
  const response = await fetch(`http://127.0.0.1:${port}${path}`)
  return { status: response.status, body: await response.text() }
}

describe("metrics and health endpoints", () => {
  let stack: Stack
  let port: number
  const iris = { model: "iris" }

  beforeAll(async () => {
    stack = await startStack({
      metrics: { port: 0 },
      models: [{ name: "iris", path: IRIS_MODEL, replicas: 1, heartbeatMs: 100 }]
    })
    port = await portOf(stack.supervisor)
  }, 90_000)
  afterAll(() => stack?.stop())

  const scrape = async () => {
    const { status, body } = await get(port, "/metrics")
    expect(status).toBe(200)
    return parseScrape(body)
  }

  it("answers /healthz, and /readyz while the model serves", async () => {
    expect(await get(port, "/healthz")).toEqual({ status: 200, body: "ok\n" })
    expect(await get(port, "/readyz")).toEqual({ status: 200, body: "ready\n" })
    expect((await get(port, "/nothing")).status).toBe(404)
  })

  it("counts requests by outcome and their latencies, as traffic comes", async () => {
    const before = await scrape()
    const okBefore = sampleValue(before, "modelbus_requests_total", { ...iris, outcome: "ok" })
    const badBefore = sampleValue(before, "modelbus_requests_total", { ...iris, outcome: "bad_input" })
    const totalBefore = histogram(before, "modelbus_request_duration_seconds", iris)
    const computeBefore = histogram(before, "modelbus_compute_seconds", iris).count
    const n = 25
    await Promise.all(Array.from({ length: n }, () => stack.client.infer("iris", ROW)))
    await expect(stack.client.infer("iris", [[1, 2]])).rejects.toMatchObject({ _tag: "BadInput" })
    // actors report with their heartbeat: nothing to await but the next scrape that has it
    const after = await eventually(
      async () => {
        const s = await scrape()
        const moved =
          sampleValue(s, "modelbus_requests_total", { ...iris, outcome: "ok" }) >= okBefore + n &&
          sampleValue(s, "modelbus_requests_total", { ...iris, outcome: "bad_input" }) >= badBefore + 1
        return moved ? s : undefined
      },
      10_000,
      "the request counters to move"
    )
    expect(sampleValue(after, "modelbus_requests_total", { ...iris, outcome: "ok" })).toBe(okBefore + n)
    expect(sampleValue(after, "modelbus_requests_total", { ...iris, outcome: "bad_input" })).toBe(badBefore + 1)
    const total = histogram(after, "modelbus_request_duration_seconds", iris)
    expect(total.count).toBe(totalBefore.count + n)
    expect(total.buckets.get("+Inf")).toBe(total.count)
    expect(total.sum).toBeGreaterThan(totalBefore.sum)
    // cumulative buckets never decrease with the bound
    const counts = [...total.buckets.values()]
    expect(counts).toEqual([...counts].sort((a, b) => a - b))
    expect(histogram(after, "modelbus_compute_seconds", iris).count).toBe(computeBefore + n)
    expect(histogram(after, "modelbus_batch_size", iris).count).toBeGreaterThan(0)
    expect(sampleValue(after, "modelbus_model_version", iris)).toBe(1)
    expect(sampleValue(after, "modelbus_live_tensors", iris)).toBeGreaterThan(0)
    expect(sampleValue(after, "modelbus_resident_memory_bytes", iris)).toBeGreaterThan(1_000_000)
    expect(sampleValue(after, "modelbus_supervisor_restarts_total", { supervisor: "iris" })).toBe(0)
  })

  it("turns /readyz 503, naming the model, while it has no serving replica, and 200 once one serves again", async () => {
    await stack.client.scale("iris", 0)
    const down = await get(port, "/readyz")
    expect(down.status).toBe(503)
    expect(down.body).toContain("iris has no serving replica")
    expect((await get(port, "/healthz")).status).toBe(200)
    expect(sampleValue(await scrape(), "modelbus_model_ready", iris)).toBe(0)
    await stack.client.scale("iris", 1)
    // the new replica loads its model: nothing to await but the probe itself
    await eventually(
      async () => ((await get(port, "/readyz")).status === 200 ? true : undefined),
      60_000,
      "/readyz to answer 200"
    )
    expect(sampleValue(await scrape(), "modelbus_model_ready", iris)).toBe(1)
  })
})

describe("the metrics port", () => {
  it("taken, or out of range, ends supervise with one line naming the typed error, exit 1", async () => {
    const taken = createServer()
    await new Promise<void>((resolve) => taken.listen(0, resolve))
    const busy = (taken.address() as AddressInfo).port
    try {
      const file = await writeConfig({ models: [{ name: "iris", path: IRIS_MODEL }] })
      // the endpoints open before the NATS connection: no server needed to see the refusal
      const inUse = await runCli([
        "supervise",
        "--config",
        file,
        "-s",
        "nats://127.0.0.1:1",
        "--metrics-port",
        `${busy}`
      ])
      expect(inUse.code).toBe(1)
      expect(inUse.output).toMatch(
        new RegExp(`modelbus: MetricsUnavailable: cannot serve metrics on port ${busy}: .*EADDRINUSE`)
      )
      const outOfRange = await runCli(["supervise", "--config", file, "--metrics-port", "70000"])
      expect(outOfRange.code).toBe(1)
      expect(outOfRange.output).toMatch(/modelbus: ConfigError: --metrics-port must be a port number from 0 to 65535/)
    } finally {
      await new Promise<void>((resolve) => taken.close(() => resolve()))
    }
  })
})

interface ReceivedSpan {
  readonly traceId: string
  readonly spanId: string
  readonly parentSpanId?: string
  readonly name: string
  readonly kind: number
}

/** An OTLP/HTTP JSON receiver: every span of every POST to /v1/traces, with a way to wait for some. */
const startReceiver = async () => {
  const spans: Array<ReceivedSpan> = []
  const services = new Set<string>()
  const listeners = new Set<() => void>()
  const server: Server = createServer((req, res) => {
    let body = ""
    req.on("data", (chunk: Buffer) => (body += chunk.toString()))
    req.on("end", () => {
      if (req.method === "POST" && req.url === "/v1/traces") {
        const data = JSON.parse(body) as {
          resourceSpans: Array<{
            resource: { attributes: Array<{ key: string; value: { stringValue?: string } }> }
            scopeSpans: Array<{ spans: Array<ReceivedSpan> }>
          }>
        }
        for (const rs of data.resourceSpans) {
          const name = rs.resource.attributes.find((a) => a.key === "service.name")?.value.stringValue
          if (name !== undefined) services.add(name)
          for (const ss of rs.scopeSpans) spans.push(...ss.spans)
        }
        for (const l of listeners) l()
      }
      res.writeHead(200, { "content-type": "application/json" }).end("{}")
    })
  })
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
  const waitFor = (check: () => boolean, timeoutMs: number) =>
    new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        listeners.delete(test)
        reject(new Error(`spans received: ${JSON.stringify(spans)}`))
      }, timeoutMs)
      const test = () => {
        if (!check()) return
        clearTimeout(timer)
        listeners.delete(test)
        resolve()
      }
      listeners.add(test)
      test()
    })
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    spans,
    services,
    waitFor,
    close: () => new Promise<void>((resolve) => server.close(() => resolve()))
  }
}

describe("traces", () => {
  let nats: LocalNatsServer
  let supervisor: CliProcess
  let receiver: Awaited<ReturnType<typeof startReceiver>>

  beforeAll(async () => {
    receiver = await startReceiver()
    nats = await startLocalNatsServer()
    const file = await writeConfig({ models: [{ name: "iris", path: IRIS_MODEL, replicas: 1 }] })
    supervisor = spawnCli(["supervise", "--config", file, "--server", nats.url], {
      OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
      OTEL_SERVICE_NAME: "modelbus-test",
      OTEL_BSP_SCHEDULE_DELAY: "100"
    })
    await supervisor.waitForLine(/modelbus ready/, 60_000)
  }, 90_000)
  afterAll(async () => {
    await supervisor?.stop()
    await nats?.stop()
    await receiver?.close()
  })

  it("continues the trace a request carries: the actor's spans of it reach the OTLP receiver", async () => {
    const caller = await Effect.runPromise(
      Effect.gen(function* () {
        const client = yield* ModelClient
        yield* client.infer("iris", ROW) // no span: no traceparent, no spans
        return yield* Effect.gen(function* () {
          yield* client.infer("iris", ROW)
          return yield* Effect.currentSpan
        }).pipe(Effect.withSpan("caller"))
      }).pipe(Effect.provide(ModelClient.layer({ servers: nats.url })), Effect.scoped)
    )
    const ofTrace = () => receiver.spans.filter((s) => s.traceId === caller.traceId)
    await receiver.waitFor(() => ofTrace().length >= 3, 20_000)
    const server = ofTrace().find((s) => s.name === "infer iris")
    expect(server?.parentSpanId).toBe(caller.spanId)
    expect(server?.kind).toBe(2) // SPAN_KIND_SERVER
    for (const name of ["queue wait", "compute"]) {
      const child = ofTrace().find((s) => s.name === name)
      expect(child?.parentSpanId, name).toBe(server?.spanId)
    }
    // the request without a span left none
    expect(receiver.spans.every((s) => s.traceId === caller.traceId)).toBe(true)
    expect([...receiver.services]).toEqual(["modelbus-test"])
  })
})
