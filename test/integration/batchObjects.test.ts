// Batch jobs whose rows are each larger than half the server's max_payload (64 KiB here): their chunks and
// results go through the Object Store, every output equals a direct infer of its row, in input order; the
// chunks' objects are gone once the job is done; a chunk whose object is gone fails its rows, typed.
import { mkdtemp, readFile, writeFile } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { jetstream, jetstreamManager } from "@nats-io/jetstream"
import { Kvm } from "@nats-io/kv"
import { Objm } from "@nats-io/obj"
import { headers as natsHeaders } from "@nats-io/transport-node"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { cancelJob, markDone, readResults, rowResults, submitJob } from "../../src/client/batch.js"
import type { HostTensor } from "../../src/client/index.js"
import { encodeNpy, parseNpy } from "../../src/datasets/npy.js"
import { tableSource } from "../../src/datasets/source.js"
import { UNNAMED } from "../../src/datasets/table.js"
import { batchNames } from "../../src/protocol/batch.js"
import {
  CHUNK_OBJECT_MISSING_TAG,
  chunkObject,
  defaultChunkRows,
  OBJECT_HEADER,
  RESULT_OBJECT_MISSING_TAG,
  resultObject
} from "../../src/protocol/batchObjects.js"
import { serialize } from "../../src/protocol/codec.js"
import { bytesOf } from "../../src/protocol/tensor.js"
import { writeOnnxModel } from "../helpers/onnx/builder.js"
import { runCli } from "../helpers/processes.js"
import { type Stack, startStack } from "../helpers/stack.js"

const MAX_PAYLOAD = 64 * 1024
/** Floats per row: 40,000 bytes, more than half of max_payload, so a row fits in one infer but two do not. */
const WIDTH = 10_000
const ROWS = 10
const NAMES = batchNames("modelbus")

let stack: Stack
let dir: string

/** x [batch, WIDTH] → y = x ⊙ w, w a fixed ramp (each output row as wide as its input). */
const wideModel = () => ({
  inputs: [{ name: "x", dtype: "float32" as const, shape: [null, WIDTH] }],
  outputs: [{ name: "y", dtype: "float32" as const, shape: [null, WIDTH] }],
  nodes: [{ op: "Mul", inputs: ["x", "w"], outputs: ["y"] }],
  initializers: [{ name: "w", dims: [WIDTH], float32: Array.from({ length: WIDTH }, (_, i) => 0.5 + (i % 7) * 0.25) }]
})

const rowOf = (r: number) => Array.from({ length: WIDTH }, (_, i) => ((r * 31 + i) % 101) / 10 - 5)

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "modelbus-bigrows-"))
  const config = join(dir, "nats.conf")
  await writeFile(config, `max_payload: ${MAX_PAYLOAD}\n`)
  const model = await writeOnnxModel(join(dir, "wide"), wideModel())
  stack = await startStack(
    { models: [{ name: "wide", path: model, replicas: 2, onnx: { intraOpNumThreads: 1 } }] },
    {},
    { config }
  )
}, 120_000)

afterAll(async () => {
  await stack?.stop()
})

/** The names of the objects of `job` still in the batch data bucket (deleted ones excluded). */
const objectsOf = async (job: string) => {
  const store = await new Objm(stack.raw).open(NAMES.data)
  return (await store.list()).map((o) => o.name).filter((name) => name.startsWith(`${job}.`))
}

describe("batch rows larger than half a message", () => {
  it("go by object, each output equal to a direct infer, in order; the chunks' objects gone once done", async () => {
    expect(stack.raw.info?.max_payload).toBe(MAX_PAYLOAD)
    const rows = Array.from({ length: ROWS }, (_, r) => rowOf(r))
    const table = {
      rows: ROWS,
      inputs: { [UNNAMED]: { dtype: "float32" as const, shape: [ROWS, WIDTH], data: Float32Array.from(rows.flat()) } },
      index: undefined,
      rejected: []
    }
    const record = await submitJob(stack.raw, "modelbus", "wide", tableSource(table), { chunkRows: 3 })
    expect(record.chunks).toBe(4)
    // chunks of 3 rows (120 KB) are too large for one message; the last, of 1 row (40 KB), is not
    expect(record.objectChunks).toEqual([[0, 2]])
    const { bodies, heads } = await readResults(stack.raw, "modelbus", record, { bodies: true, follow: true })
    expect(heads.size).toBe(4)
    const results = rowResults(record, bodies)
    expect(results.filter((r) => r.kind !== "ok")).toEqual([])
    for (let r = 0; r < ROWS; r++) {
      const direct = await stack.client.infer("wide", {
        dtype: "float32",
        shape: [1, WIDTH],
        data: Float32Array.from(rows[r]!)
      })
      const result = results[r]!
      if (result.kind !== "ok") throw new Error(`row ${r} not ok`)
      const t = result.outputs as HostTensor
      const got = (t.data as Float32Array).subarray(result.at * WIDTH, (result.at + 1) * WIDTH)
      expect(Array.from(got)).toEqual(Array.from((direct.outputs as HostTensor).data as Float32Array))
    }
    expect((await objectsOf(record.job)).sort()).toEqual([
      ...[0, 1, 2].map((c) => chunkObject(record.job, c)),
      ...[0, 1, 2].map((c) => resultObject(record.job, c))
    ])
    await markDone(stack.raw, "modelbus", record.job)
    // the chunks' objects are gone (their data purged); the results' stay with the results, still readable
    expect((await objectsOf(record.job)).sort()).toEqual([0, 1, 2].map((c) => resultObject(record.job, c)))
    const jsm = await jetstreamManager(stack.raw)
    const store = await new Objm(stack.raw).open(NAMES.data)
    for (const c of [0, 1, 2]) expect(await store.info(chunkObject(record.job, c))).toMatchObject({ deleted: true })
    const again = await readResults(stack.raw, "modelbus", record, { bodies: true, follow: false })
    expect(rowResults(record, again.bodies).every((r) => r.kind === "ok")).toBe(true)
    const stream = await jsm.streams.info(`OBJ_${NAMES.data}`)
    expect(stream.config.num_replicas).toBe(1)
  }, 120_000)

  it("`batch submit` chunks rows over half a message by object and writes every output in order", async () => {
    const rows = [5, 6, 7, 8, 9].map(rowOf)
    const input = join(dir, "wide.npy")
    const output = join(dir, "wide-out.npy")
    await writeFile(
      input,
      encodeNpy({ dtype: "float32", shape: [rows.length, WIDTH], data: Float32Array.from(rows.flat()) })
    )
    const run = await runCli([
      "batch",
      "submit",
      "wide",
      "--input",
      input,
      "--output",
      output,
      "--server",
      stack.nats.url
    ])
    expect(run.code, run.output).toBe(0)
    // 40 KB rows against a 64 KiB max_payload: up to 4 MiB of rows per chunk, so the 5 rows are one chunk
    expect(run.output).toContain(`in 1 chunks of ${defaultChunkRows(WIDTH * 4, MAX_PAYLOAD)}`)
    const written = parseNpy(output, await readFile(output))
    if ("_tag" in written) throw new Error(written.message)
    expect(written.shape).toEqual([rows.length, WIDTH])
    const direct = await Promise.all(
      rows.map((row) =>
        stack.client.infer("wide", { dtype: "float32", shape: [1, WIDTH], data: Float32Array.from(row) })
      )
    )
    expect(Array.from(written.data as Float32Array)).toEqual(
      direct.flatMap((d) => Array.from((d.outputs as HostTensor).data as Float32Array))
    )
    const job = /job (\w+):/.exec(run.output)![1]!
    // the chunk's object was deleted once the job was done; its result's stays with the results
    expect(await objectsOf(job)).toEqual([resultObject(job, 0)])
  }, 120_000)

  it("deletes every object of a job it cancels, its results' too, whose rows then read as ResultObjectMissing", async () => {
    const rows = [rowOf(3), rowOf(4)]
    const table = {
      rows: 2,
      inputs: { [UNNAMED]: { dtype: "float32" as const, shape: [2, WIDTH], data: Float32Array.from(rows.flat()) } },
      index: undefined,
      rejected: []
    }
    const record = await submitJob(stack.raw, "modelbus", "wide", tableSource(table), { chunkRows: 2 })
    expect(record.objectChunks).toEqual([[0, 0]])
    await readResults(stack.raw, "modelbus", record, { bodies: false, follow: true })
    expect((await objectsOf(record.job)).sort()).toEqual([chunkObject(record.job, 0), resultObject(record.job, 0)])
    await cancelJob(stack.raw, "modelbus", record.job)
    expect(await objectsOf(record.job)).toEqual([])
    // its result names an object that is gone: each of its rows reads as failed, typed
    const { bodies } = await readResults(stack.raw, "modelbus", record, { bodies: true, follow: false })
    expect(rowResults(record, bodies).map((r) => (r.kind === "failed" ? r.failure.error._tag : r.kind))).toEqual([
      RESULT_OBJECT_MISSING_TAG,
      RESULT_OBJECT_MISSING_TAG
    ])
  }, 120_000)

  it("fails each row of a chunk whose object is gone with ChunkObjectMissing, and the job goes on", async () => {
    const kv = await new Kvm(stack.raw).open(NAMES.jobs)
    const job = `gone${Date.now()}`
    await kv.put(
      job,
      JSON.stringify({
        job,
        model: "wide",
        state: "queued",
        rows: 3,
        chunks: 2,
        chunkRows: 2,
        encoding: "msgpack",
        submittedAt: new Date().toISOString(),
        rejected: [],
        objectChunks: [[0, 0]]
      })
    )
    const js = jetstream(stack.raw)
    // chunk 0 names an object never stored; chunk 1 is inline
    const h = natsHeaders()
    h.set("Nats-Msg-Id", `${job}.0`)
    h.set("Content-Type", "application/json")
    h.set(OBJECT_HEADER, chunkObject(job, 0))
    await js.publish(`modelbus.batch.work.wide.${job}`, JSON.stringify({ job, chunk: 0, rows: [0, 1] }), {
      headers: h
    })
    const inline = natsHeaders()
    inline.set("Nats-Msg-Id", `${job}.1`)
    const x = { dtype: "float32", shape: [1, WIDTH], data: bytesOf(Float32Array.from(rowOf(2))) }
    await js.publish(`modelbus.batch.work.wide.${job}`, serialize({ job, chunk: 1, rows: [2], inputs: x }, "msgpack"), {
      headers: inline
    })
    stack.raw.publish("modelbus.batch.notice.wide")
    const record = { ...JSON.parse(new TextDecoder().decode((await kv.get(job))!.value)) }
    const { bodies } = await readResults(stack.raw, "modelbus", record, { bodies: true, follow: true })
    const results = rowResults(record, bodies)
    expect(results.slice(0, 2).map((r) => (r.kind === "failed" ? r.failure.error._tag : r.kind))).toEqual([
      CHUNK_OBJECT_MISSING_TAG,
      CHUNK_OBJECT_MISSING_TAG
    ])
    expect(results[0]!.kind === "failed" && results[0]!.failure.error.message).toContain(chunkObject(job, 0))
    expect(results[2]!.kind).toBe("ok")
  }, 120_000)
})
