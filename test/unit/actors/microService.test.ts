// The actor's NATS micro answers (ADR-32) and its model metadata, built from its identity, the version
// it serves and its counters: the io.nats.micro.v1 shapes, prefix-aware names, nanosecond stats.
import { Schema } from "effect"
import { describe, expect, it } from "vitest"
import { actorIdentity, modelMetadata, supervisorOf } from "../../../src/actors/identity.js"
import { infoResponse, pingResponse, statsResponse } from "../../../src/actors/microService.js"
import { servingModel, swapIn } from "../../../src/actors/servingModel.js"
import { actorStats } from "../../../src/actors/stats.js"
import { BadInput, Overloaded } from "../../../src/protocol/errors.js"
import { ModelMetadata } from "../../../src/protocol/metadata.js"
import { InfoResponse, PingResponse, StatsResponse } from "../../../src/protocol/micro.js"
import { fakeModel, rowSums } from "./fakes.js"

const identity = (prefix = "modelbus") =>
  actorIdentity({ model: "fake", actor: "fake-2@sup9", backend: "wasm", prefix })

/** What goes on the wire: the answer as JSON, parsed back. */
const wire = (value: unknown): unknown => JSON.parse(JSON.stringify(value))

describe("NATS micro answers", () => {
  it("PING names the service after prefix and model, with a unique id, a semver version and the metadata", () => {
    const a = identity()
    const b = identity()
    const serving = servingModel(fakeModel(async (x) => rowSums(x)).model, 3)
    const ping = Schema.decodeUnknownSync(PingResponse)(wire(pingResponse(a, serving)))
    expect(ping).toEqual({
      type: "io.nats.micro.v1.ping_response",
      name: "modelbus-fake",
      id: a.instance,
      version: "3.0.0",
      metadata: {
        model: "fake",
        model_version: "3",
        model_format: "layers",
        backend: "wasm",
        actor: "fake-2@sup9",
        supervisor: "sup9",
        prefix: "modelbus"
      }
    })
    expect(a.instance).toMatch(/^[A-Za-z0-9]{22}$/)
    expect(b.instance).not.toBe(a.instance)
  })

  it("INFO lists the infer endpoint with its queue group and signature; a dotted prefix stays one name token", () => {
    const serving = servingModel(fakeModel(async (x) => rowSums(x)).model, 1)
    const info = Schema.decodeUnknownSync(InfoResponse)(wire(infoResponse(identity("acme.ml"), serving, actorStats())))
    expect(info.type).toBe("io.nats.micro.v1.info_response")
    expect(info.name).toBe("acme-ml-fake")
    expect(info.description).toContain("fake-2@sup9")
    expect(info.endpoints).toHaveLength(1)
    const [endpoint] = info.endpoints
    expect(endpoint).toMatchObject({ name: "infer", subject: "acme.ml.infer.fake", queue_group: "acme.ml.fake" })
    expect(JSON.parse(endpoint!.metadata!.inputs!)).toEqual([{ name: "x", dtype: "float32", shape: [null, 2] }])
    expect(JSON.parse(endpoint!.metadata!.outputs!)).toEqual([{ name: "y", dtype: "float32", shape: [null, 1] }])
  })

  it("INFO and describe carry the batch limit in force and where it comes from", () => {
    const serving = servingModel(fakeModel(async (x) => rowSums(x)).model, 1)
    const stats = actorStats()
    stats.batchLimit = { maxBatchSize: 16, source: "measured", version: 1 }
    const info = Schema.decodeUnknownSync(InfoResponse)(wire(infoResponse(identity(), serving, stats)))
    expect(info.endpoints[0]!.metadata).toMatchObject({ max_batch_size: "16", batch_limit: "measured" })
    expect(Schema.decodeUnknownSync(ModelMetadata)(wire(modelMetadata(identity(), serving, stats))).maxBatchSize).toBe(
      16
    )
  })

  it("INFO and PING follow the version served now", () => {
    const serving = servingModel(fakeModel(async (x) => rowSums(x)).model, 1)
    const me = identity()
    swapIn(serving, fakeModel(async (x) => rowSums(x)).model, 2)
    expect(infoResponse(me, serving, actorStats())).toMatchObject({
      version: "2.0.0",
      metadata: { model_version: "2" }
    })
    expect(pingResponse(me, serving).version).toBe("2.0.0")
  })

  it("STATS reports requests, errors, the last error and processing times in integer nanoseconds", () => {
    const serving = servingModel(fakeModel(async (x) => rowSums(x)).model, 1)
    const me = identity()
    const stats = actorStats()
    const empty = Schema.decodeUnknownSync(StatsResponse)(wire(statsResponse(me, serving, stats)))
    expect(empty.started).toBe(me.started)
    expect(new Date(empty.started).toISOString()).toBe(empty.started)
    expect(empty.endpoints).toEqual([
      {
        name: "infer",
        subject: "modelbus.infer.fake",
        queue_group: "modelbus.fake",
        num_requests: 0,
        num_errors: 0,
        last_error: "",
        processing_time: 0,
        average_processing_time: 0
      }
    ])
    stats.served = 4
    stats.errors = 2
    stats.processingMs = 1.2345674
    stats.lastError = new BadInput({ message: "input x: expected shape [?, 2]" })
    stats.lastError = new Overloaded({ message: "fake-2@sup9 has 8 requests in flight (limit 8)" })
    const [endpoint] = Schema.decodeUnknownSync(StatsResponse)(wire(statsResponse(me, serving, stats))).endpoints
    expect(endpoint).toMatchObject({
      num_requests: 6,
      num_errors: 2,
      last_error: "503 Overloaded: fake-2@sup9 has 8 requests in flight (limit 8)",
      processing_time: 1_234_567,
      average_processing_time: 205_761
    })
  })
})

describe("model metadata", () => {
  it("gives the served version's signature, format, backend and who answered", () => {
    const serving = servingModel(fakeModel(async (x) => rowSums(x)).model, 5)
    expect(Schema.decodeUnknownSync(ModelMetadata)(wire(modelMetadata(identity(), serving, actorStats())))).toEqual({
      name: "fake",
      version: 5,
      format: "layers",
      backend: "wasm",
      inputs: [{ name: "x", dtype: "float32", shape: [null, 2] }],
      outputs: [{ name: "y", dtype: "float32", shape: [null, 1] }],
      actor: "fake-2@sup9",
      supervisor: "sup9",
      maxBatchSize: 1
    })
  })

  it("reads the supervisor id from the actor id", () => {
    expect(supervisorOf("iris-1@k3j9x2")).toBe("k3j9x2")
    expect(supervisorOf("standalone")).toBe("")
  })
})
