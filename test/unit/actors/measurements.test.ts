// What an actor measures for /metrics and traces, on the batcher over a fake model: outcomes counted,
// queue wait / compute / total latencies and batch sizes in buckets, a batch whose every request
// is late still answered and counted; spans only for requests carrying a trace, under that trace.
import { Option, Tracer } from "effect"
import { describe, expect, it } from "vitest"
import { makeMeasurements, observe, snapshot } from "../../../src/actors/measurements.js"
import { traceOf } from "../../../src/actors/tracing.js"
import { LATENCY_BUCKETS } from "../../../src/protocol/ipc.js"
import { fakeHotPath, type fakeModel, fakeMsg, rowSums, xRows } from "./fakes.js"

type Predict = Parameters<typeof fakeModel>[0]

/** A tracer that keeps every span it makes. */
const recordingTracer = () => {
  const spans: Array<Tracer.Span> = []
  const tracer = Tracer.make({
    span: (options) => {
      const span = new Tracer.NativeSpan(options)
      spans.push(span)
      return span
    }
  })
  return { tracer, spans }
}

const setup = (predict: Predict, tracer?: Tracer.Tracer) => {
  const measure = makeMeasurements()
  return { measure, ...fakeHotPath(predict, tracer === undefined ? { measure } : { measure, tracer }) }
}

const total = (counts: ReadonlyArray<number>) => counts.reduce((a, b) => a + b, 0)

describe("observe", () => {
  it("puts a value in the first bucket whose bound is at least the value, past the last bound in +Inf", () => {
    const m = makeMeasurements()
    observe(m.total, 0.001)
    observe(m.total, 0.0011, 2)
    observe(m.total, 99)
    const at = (bound: number) => m.total.counts[LATENCY_BUCKETS.indexOf(bound)]
    expect(at(0.001)).toBe(1)
    expect(at(0.0025)).toBe(2)
    expect(m.total.counts[LATENCY_BUCKETS.length]).toBe(1)
    expect(m.total.sum).toBeCloseTo(0.001 + 0.0022 + 99)
    // a snapshot is a copy: later requests do not change what was sent
    const sent = snapshot(m)
    observe(m.total, 1)
    expect(total(sent.total.counts)).toBe(4)
  })
})

describe("batcher measurements", () => {
  it("counts a stacked batch: one call of 3 requests, each with its queue wait, compute and total latency", async () => {
    const b = setup(async (inputs) => rowSums(inputs))
    const done = b.idle()
    for (let i = 0; i < 3; i++) b.submit(xRows(1, i))
    await done
    const sent = snapshot(b.measure)
    expect(sent.outcomes.ok).toBe(3)
    expect(total(sent.queueWait.counts)).toBe(3)
    expect(total(sent.compute.counts)).toBe(3)
    expect(total(sent.total.counts)).toBe(3)
    expect(sent.batchSize.counts).toEqual([0, 0, 1, 0, 0, 0, 0, 0, 0, 0])
    expect(sent.batchSize.sum).toBe(3)
    expect(sent.total.sum).toBeGreaterThanOrEqual(sent.compute.sum / 3)
  })

  it("answers and counts a batch whose every request is late, and lowers the in-flight count", async () => {
    const b = setup(async (inputs) => rowSums(inputs))
    const done = b.idle()
    const late = b.submit(xRows(1), { deadline: performance.now() - 1 })
    await done
    expect(late.answers).toHaveLength(1)
    expect(b.admission.inflight()).toBe(0)
    const sent = snapshot(b.measure)
    expect(sent.outcomes.deadline_exceeded).toBe(1)
    expect(total(sent.compute.counts)).toBe(0)
    expect(total(sent.total.counts)).toBe(1)
  })

  it("counts the requests of a failed call as inference_failed", async () => {
    const b = setup(() => Promise.reject(new Error("kernel exploded")))
    const done = b.idle()
    b.submit(xRows(1))
    b.submit(xRows(2))
    await done
    expect(snapshot(b.measure).outcomes).toMatchObject({ ok: 0, inference_failed: 2 })
  })
})

describe("request spans", () => {
  const parent = Tracer.externalSpan({ traceId: "4bf92f3577b34da6a3ce929d0e0e4736", spanId: "00f067aa0ba902b7" })

  it("reads a sampled W3C traceparent, and ignores an unsampled or malformed one", () => {
    const withHeader = (value: string) => {
      const fake = fakeMsg({})
      fake.msg.headers!.set("traceparent", value)
      return fake.msg
    }
    const read = traceOf(withHeader(`00-${parent.traceId}-${parent.spanId}-01`))
    expect(read).toMatchObject({ traceId: parent.traceId, spanId: parent.spanId, sampled: true })
    expect(traceOf(withHeader(`00-${parent.traceId}-${parent.spanId}-00`))).toBeUndefined()
    expect(traceOf(withHeader("00-nothex-00f067aa0ba902b7-01"))).toBeUndefined()
    expect(traceOf(fakeMsg({}).msg)).toBeUndefined()
  })

  it("makes a server span under the request's trace with queue wait and compute children; none for an untraced request", async () => {
    const { tracer, spans } = recordingTracer()
    const b = setup(async (inputs) => rowSums(inputs), tracer)
    const done = b.idle()
    b.submit(xRows(1), { trace: parent })
    b.submit(xRows(1))
    await done
    expect(spans.map((s) => s.name).sort()).toEqual(["compute", "infer fake", "queue wait"])
    const server = spans.find((s) => s.name === "infer fake")!
    expect(server.kind).toBe("server")
    expect(server.traceId).toBe(parent.traceId)
    expect(Option.getOrUndefined(server.parent)?.spanId).toBe(parent.spanId)
    for (const child of spans.filter((s) => s !== server)) {
      expect(child.traceId).toBe(parent.traceId)
      expect(Option.getOrUndefined(child.parent)?.spanId).toBe(server.spanId)
      expect(child.status._tag).toBe("Ended")
    }
    const compute = spans.find((s) => s.name === "compute")!
    expect(compute.attributes.get("modelbus.batch_size")).toBe(2)
    if (server.status._tag === "Ended" && compute.status._tag === "Ended") {
      expect(compute.status.startTime).toBeGreaterThanOrEqual(server.status.startTime)
      expect(compute.status.endTime).toBeLessThanOrEqual(server.status.endTime)
    } else expect.unreachable("spans not ended")
  })
})
