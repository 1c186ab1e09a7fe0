// Batch jobs on a real JetStream nats-server and real actor processes: every output equal to a direct infer
// of the same row, in input order, none missing or doubled; poison rows recorded by index; the model's consumer
// carries a backoff grown from its ack wait, set by the submitter or measured by the replicas.
import { jetstream, jetstreamManager } from "@nats-io/jetstream"
import { Kvm } from "@nats-io/kv"
import { type NatsConnection, headers as natsHeaders } from "@nats-io/transport-node"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { readResults, rowResults, submitJob } from "../../src/client/batch.js"
import type { HostTensor } from "../../src/client/index.js"
import { readJsonl } from "../../src/datasets/jsonl.js"
import { type RowSource, tableSource } from "../../src/datasets/source.js"
import { batchConsumer, batchNames, type JobRecord } from "../../src/protocol/batch.js"
import {
  ACK_WAIT_FLOOR_MS,
  backoffMs,
  timingDescription,
  UNMEASURED_ACK_WAIT_MS
} from "../../src/protocol/batchTiming.js"
import { eventually, IRIS_MODEL, irisRows } from "../helpers/processes.js"
import { type Stack, startStack } from "../helpers/stack.js"

let stack: Stack
let raw: NatsConnection
let iris: Array<Array<number>>
const IRIS_SPECS = [{ name: "x", dtype: "float32" as const, shape: [null, 4] }]

/** `rows` Iris rows (the data set repeated, each row nudged by its index so no two rows are alike). */
const irisTable = (rows: number): Array<Array<number>> =>
  Array.from({ length: rows }, (_, i) => iris[i % iris.length]!.map((v, k) => v + (k === 0 ? (i % 97) * 0.01 : 0)))

const tableOf = (lines: ReadonlyArray<string>): RowSource => {
  const t = readJsonl("rows.jsonl", lines.join("\n"), IRIS_SPECS)
  if ("_tag" in t) throw new Error(t.message)
  return tableSource(t)
}

const outputRow = (r: ReturnType<typeof rowResults>[number]): Array<number> => {
  if (r.kind !== "ok") throw new Error(`row not ok: ${JSON.stringify(r)}`)
  const t = r.outputs as HostTensor
  const size = t.shape[1]!
  return Array.from((t.data as Float32Array).subarray(r.at * size, (r.at + 1) * size))
}

beforeAll(async () => {
  iris = await irisRows()
  stack = await startStack({ models: [{ name: "iris", path: IRIS_MODEL, replicas: 2 }] })
  raw = stack.raw
}, 120_000)

afterAll(async () => {
  await stack?.stop()
})

describe("batch jobs through the bus", () => {
  it("answers every row as a direct infer does, in input order, none missing or doubled", async () => {
    const rows = irisTable(3_000)
    const table = tableOf(rows.map((r) => JSON.stringify(r)))
    const record = await submitJob(raw, "modelbus", "iris", table, { chunkRows: 200 })
    expect(record.chunks).toBe(15)
    const { bodies, heads } = await readResults(raw, "modelbus", record, { bodies: true, follow: true })
    expect(heads.size).toBe(15)
    const results = rowResults(record, bodies)
    expect(results.filter((r) => r.kind !== "ok")).toEqual([])
    const direct = await stack.client.infer("iris", { dtype: "float32", shape: [rows.length, 4], data: rows.flat() })
    const expected = direct.outputs as HostTensor
    results.forEach((r, i) => {
      const want = Array.from((expected.data as Float32Array).subarray(i * 3, i * 3 + 3))
      expect(outputRow(r)).toEqual(want)
    })
  }, 120_000)

  it("records poison rows by index with their typed error and runs the rest", async () => {
    const lines = irisTable(500).map((r) => JSON.stringify(r))
    lines[7] = '["NaN", 1, 1, 1]'
    lines[123] = "[1, 2, 3]"
    lines[499] = '[1, "Infinity", 1, 1]'
    const record: JobRecord = await submitJob(raw, "modelbus", "iris", tableOf(lines), { chunkRows: 100 })
    const { bodies } = await readResults(raw, "modelbus", record, { bodies: true, follow: true })
    const results = rowResults(record, bodies)
    const failed = results.flatMap((r, i) => (r.kind === "failed" ? [{ i, ...r.failure }] : []))
    expect(failed.map((f) => [f.i, f.row, f.error._tag])).toEqual([
      [7, 7, "BadInput"],
      [123, 123, "BadInput"],
      [499, 499, "BadInput"]
    ])
    expect(failed[0]!.error.message).toContain("NaN")
    expect(failed[1]!.error.message).toBe("rows.jsonl:124: the row: expected shape [4], received [3]")
    expect(results.filter((r) => r.kind === "ok")).toHaveLength(497)
    expect(results.some((r) => r.kind === "missing")).toBe(false)
  }, 120_000)
})

describe("a submit whose rows cannot all be read", () => {
  it("throws the read's error and cancels the job, deleting the chunks it had stored", async () => {
    // a model no replica serves: nothing takes the stored chunks, so only the cancel can remove them
    const good = tableOf(irisTable(30).map((r) => JSON.stringify(r)))
    const failing: RowSource = {
      ...good,
      chunks: async function* (chunkRows) {
        for await (const c of good.chunks(chunkRows)) {
          if (c.chunk === 2) throw new Error("the disk went away at chunk 2")
          yield c
        }
      }
    }
    const jobs = await new Kvm(raw).open(batchNames("modelbus").jobs)
    const before = new Set<string>()
    for await (const key of await jobs.keys()) before.add(key)
    await expect(submitJob(raw, "modelbus", "unserved", failing, { chunkRows: 10 })).rejects.toThrow(
      "the disk went away at chunk 2"
    )
    const added: Array<JobRecord> = []
    for await (const key of await jobs.keys())
      if (!before.has(key)) added.push((await jobs.get(key))!.json<JobRecord>())
    expect(added.map((r) => [r.model, r.state, r.chunks])).toEqual([["unserved", "cancelled", 3]])
    const consumer = await (await jetstreamManager(raw)).consumers.info(
      batchNames("modelbus").work,
      batchConsumer("unserved")
    )
    expect(consumer.num_pending).toBe(0)
  }, 30_000)
})

describe("replicas whose pulls fail", () => {
  it("pull again when their consumer vanishes under their pulls, and run the next job", async () => {
    const first = await submitJob(raw, "modelbus", "iris", tableOf(irisTable(400).map((r) => JSON.stringify(r))), {
      chunkRows: 100
    })
    await readResults(raw, "modelbus", first, { bodies: false, follow: true })
    const jsm = await jetstreamManager(raw)
    const names = batchNames("modelbus")
    // both replicas wait in a pull on the consumer; deleting it ends those pulls with an error (as a node
    // killed under them does on a cluster), which once ended the replicas' batch work for good
    await eventually(
      async () => ((await jsm.consumers.info(names.work, batchConsumer("iris"))).num_waiting >= 2 ? true : undefined),
      30_000,
      "both replicas pulling"
    )
    await jsm.consumers.delete(names.work, batchConsumer("iris"))
    const rows = irisTable(600)
    const next = await submitJob(raw, "modelbus", "iris", tableOf(rows.map((r) => JSON.stringify(r))), {
      chunkRows: 100
    })
    const { bodies } = await readResults(raw, "modelbus", next, { bodies: true, follow: true })
    const results = rowResults(next, bodies)
    expect(results.filter((r) => r.kind !== "ok")).toEqual([])
    expect(results).toHaveLength(600)
    expect(stack.supervisor.output()).toMatch(/pulling batch chunks failed, pulling again/)
  }, 120_000)
})

describe("the model's consumer timing", () => {
  const consumerConfig = async () =>
    (await (await jetstreamManager(raw)).consumers.info(batchNames("modelbus").work, batchConsumer("iris"))).config
  const ns = (ms: number) => ms * 1_000_000

  it("grows a backoff from the submitter's ack wait, which the replicas leave alone", async () => {
    const record = await submitJob(raw, "modelbus", "iris", tableOf(irisTable(300).map((r) => JSON.stringify(r))), {
      chunkRows: 50,
      consumer: { ackWaitMs: 3_000, maxDeliver: 4, maxAckPending: 64 }
    })
    const { heads } = await readResults(raw, "modelbus", record, { bodies: false, follow: true })
    expect(heads.size).toBe(6)
    const config = await consumerConfig()
    expect(config.description).toBe(timingDescription("set"))
    expect(config.ack_wait).toBe(ns(3_000))
    expect(config.backoff).toEqual([ns(3_000), ns(6_000), ns(12_000)])
    expect(config.max_deliver).toBe(4)
  }, 60_000)

  it("measures the ack wait from the replicas' model calls when none is set, and grows the backoff from it", async () => {
    const record = await submitJob(raw, "modelbus", "iris", tableOf(irisTable(300).map((r) => JSON.stringify(r))), {
      chunkRows: 50,
      consumer: { maxDeliver: 3, maxAckPending: 64 }
    })
    const { heads } = await readResults(raw, "modelbus", record, { bodies: false, follow: true })
    expect(heads.size).toBe(6)
    // a replica writes it before the result of the chunk whose calls it timed
    const config = await consumerConfig()
    expect(config.description).toBe(timingDescription("measured"))
    const ackWaitMs = (config.ack_wait ?? 0) / 1_000_000
    console.log(`iris: measured ack wait ${ackWaitMs} ms, backoff ${config.backoff?.map((b) => b / 1e6).join(", ")} ms`)
    expect(ackWaitMs).toBeGreaterThanOrEqual(ACK_WAIT_FLOOR_MS)
    // Iris calls take far less than the 7.5 s that would keep the unmeasured 30 s
    expect(ackWaitMs).toBeLessThan(UNMEASURED_ACK_WAIT_MS)
    expect(config.backoff).toEqual(backoffMs(ackWaitMs, 3).map(ns))
    expect(config.max_deliver).toBe(3)
    // a later submit without an ack wait keeps the measured one
    await submitJob(raw, "modelbus", "iris", tableOf([JSON.stringify(iris[0])]), { chunkRows: 1 })
    const again = await consumerConfig()
    expect([again.description, again.ack_wait]).toEqual([timingDescription("measured"), config.ack_wait])
    expect(again.backoff).toEqual(backoffMs(ackWaitMs, 4).map(ns))
  }, 60_000)
})

describe("the wire contract, followed by a plain NATS client", () => {
  it("runs a JSON chunk published as the docs describe, and answers it in JSON on the chunk's result subject", async () => {
    // made once by any modelbus submit (the docs' Python example relies on that too)
    await submitJob(raw, "modelbus", "iris", tableOf([JSON.stringify(iris[0])]), { chunkRows: 1 })
    const js = jetstream(raw)
    const kv = await new Kvm(raw).open("modelbus_batch_jobs")
    const job = `plain${Date.now()}`
    const rows = [iris[0]!, iris[149]!]
    await kv.put(
      job,
      JSON.stringify({
        job,
        model: "iris",
        state: "queued",
        rows: 2,
        chunks: 1,
        chunkRows: 2,
        encoding: "json",
        submittedAt: new Date().toISOString(),
        rejected: []
      })
    )
    const h = natsHeaders()
    h.set("Nats-Msg-Id", `${job}.0`)
    h.set("Content-Type", "application/json")
    const body = JSON.stringify({ job, chunk: 0, rows: [0, 1], inputs: rows })
    await js.publish(`modelbus.batch.work.iris.${job}`, body, { headers: h })
    // published again: dropped as a duplicate
    const again = await js.publish(`modelbus.batch.work.iris.${job}`, body, { headers: h })
    expect(again.duplicate).toBe(true)
    raw.publish("modelbus.batch.notice.iris")
    const consumer = await js.consumers.get("modelbus_batch_results", {
      filter_subjects: `modelbus.batch.result.${job}.>`
    })
    // waits as long as the replicas take (the test's own timeout is the safety net), not a fixed bound
    let msg = await consumer.next({ expires: 5_000 })
    while (msg === null) msg = await consumer.next({ expires: 5_000 })
    expect(msg?.subject).toBe(`modelbus.batch.result.${job}.0`)
    expect(msg?.headers?.get("Content-Type")).toBe("application/json")
    expect(msg?.headers?.get("Modelbus-Rows")).toBe("2")
    const result = msg!.json<{
      rows: Array<number>
      outputs: { shape: Array<number>; data: Array<number> }
      failed: []
    }>()
    expect(result.rows).toEqual([0, 1])
    expect(result.failed).toEqual([])
    const direct = await stack.client.infer("iris", rows)
    expect(result.outputs.shape).toEqual([2, 3])
    expect(result.outputs.data).toEqual(Array.from((direct.outputs as HostTensor).data as Float32Array))
  }, 120_000)
})
