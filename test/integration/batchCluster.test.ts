// A batch job on a 3-node loopback JetStream cluster: its streams and bucket get 3 replicas, and a job of
// 20,000 Iris rows completes with every output equal to a direct infer, in order, while the node leading
// its work stream is SIGKILLed mid-job.
import { mkdtemp, readFile, writeFile } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { jetstreamManager } from "@nats-io/jetstream"
import { type NatsConnection, connect as natsConnect } from "@nats-io/transport-node"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { type Client, connect, type HostTensor } from "../../src/client/index.js"
import { encodeNpy, parseNpy } from "../../src/datasets/npy.js"
import { batchNames, batchSubjects } from "../../src/protocol/batch.js"
import { holdOneChunk } from "../helpers/heldChunk.js"
import { type LocalCluster, startLocalCluster } from "../helpers/localCluster.js"
import { type CliProcess, eventually, IRIS_MODEL, irisRows, runCli, startSupervisor } from "../helpers/processes.js"

const ROWS = 20_000
let cluster: LocalCluster
let supervisor: CliProcess
let client: Client
let raw: NatsConnection

beforeAll(async () => {
  cluster = await startLocalCluster()
  supervisor = await startSupervisor(cluster.urls.join(","), {
    models: [{ name: "iris", path: IRIS_MODEL, replicas: 2 }]
  })
  client = await connect({ servers: [...cluster.urls] })
  raw = await natsConnect({ servers: [...cluster.urls] })
}, 180_000)

afterAll(async () => {
  await raw?.close()
  await client?.close()
  await supervisor?.stop()
  await cluster?.stop()
})

/** The node (0-based) leading `stream`, once it has a leader other than `not`. */
const leaderOf = (stream: string, not?: number) =>
  eventually(
    async () => {
      const info = await (await jetstreamManager(raw, { timeout: 2_000 })).streams.info(stream)
      const leader = info.cluster?.leader
      if (leader === undefined) return undefined
      const node = Number(leader.replace(/^n/, "")) - 1
      return node === not ? undefined : { node, replicas: info.config.num_replicas }
    },
    60_000,
    `a leader of ${stream}`
  )

/** Says where the test is (a hang shows the last step it reached). */
const step = (what: string, since: number) =>
  console.log(`batch cluster test, ${Math.round(performance.now() - since)} ms: ${what}`)

describe("batch jobs on a JetStream cluster", () => {
  it("completes 20,000 rows exactly once while the node leading the work stream is SIGKILLed", async () => {
    const iris = await irisRows()
    const rows = Array.from({ length: ROWS }, (_, i) =>
      iris[i % iris.length]!.map((v, k) => v + (k === 2 ? (i % 89) * 0.01 : 0))
    )
    const dir = await mkdtemp(join(tmpdir(), "modelbus-batch-cluster-"))
    const input = join(dir, "rows.npy")
    await writeFile(input, encodeNpy({ dtype: "float32", shape: [ROWS, 4], data: Float32Array.from(rows.flat()) }))
    const server = ["--server", cluster.urls.join(",")]
    // the test pulls one chunk of the job itself, before any exists, and keeps it until the node is killed:
    // the job is still running when the node goes, however fast the replicas run the rest
    const held = await holdOneChunk(raw, "iris")
    let firstChunk: () => void = () => undefined
    const chunkStarted = new Promise<void>((resolve) => {
      firstChunk = resolve
    })
    const sub = raw.subscribe(batchSubjects("modelbus").started("iris"), { callback: () => firstChunk() })
    const started = performance.now()
    const submitted = await runCli([
      "batch",
      "submit",
      "iris",
      "--input",
      input,
      "--chunk-rows",
      "250",
      "--ack-wait",
      "2",
      "--detach",
      "--json",
      ...server
    ])
    expect(submitted.code, submitted.output).toBe(0)
    const job = (JSON.parse(submitted.output.slice(submitted.output.indexOf("{"))) as { job: string }).job
    step(`submitted ${job}`, started)
    await chunkStarted
    sub.unsubscribe()
    step("a replica started a chunk", started)
    await held.chunk
    step("the test holds a chunk", started)
    const names = batchNames("modelbus")
    const leader = await leaderOf(names.work)
    expect(leader.replicas).toBe(3)
    await cluster.kill(leader.node)
    step(`killed n${leader.node + 1}, the work stream's leader`, started)
    try {
      // the work stream elects a leader among the two nodes left (and so do the results stream and the jobs
      // bucket, should the node have led them); the held chunk goes back to the replicas
      for (const stream of [names.work, names.results, `KV_${names.jobs}`]) await leaderOf(stream, leader.node)
      step("every batch stream has a leader on the nodes left", started)
      await held.release()
      step("released the held chunk", started)
      const waited = await runCli(["batch", "wait", job, ...server])
      step(`batch wait exited ${waited.code}`, started)
      expect(waited.code, waited.output).toBe(0)
      const summary = /done: (\d+) rows, (\d+) failed, (\d+) redeliveries, in (\S+)/.exec(waited.output)!
      expect([Number(summary[1]), Number(summary[2])]).toEqual([ROWS, 0])
      const output = join(dir, "out.npy")
      const results = await runCli(["batch", "results", job, "--output", output, ...server])
      expect(results.code, results.output).toBe(0)
      const t = parseNpy(output, new Uint8Array(await readFile(output)))
      if ("_tag" in t) throw new Error(t.message)
      expect(t.shape).toEqual([ROWS, 3])
      const got = t.data as Float32Array
      let differing = 0
      for (let from = 0; from < ROWS; from += 2_000) {
        const part = rows.slice(from, from + 2_000)
        const reply = await client.infer("iris", { dtype: "float32", shape: [part.length, 4], data: part.flat() })
        const want = (reply.outputs as HostTensor).data as Float32Array
        for (let i = 0; i < want.length; i++) if (got[from * 3 + i] !== want[i]) differing++
      }
      expect(differing).toBe(0)
      console.log(
        `batch on a 3-node cluster, work-stream leader n${leader.node + 1} SIGKILLed: ${summary[1]} rows, ${summary[3]} redeliveries, ${((performance.now() - started) / 1000).toFixed(1)} s`
      )
    } finally {
      await cluster.restart(leader.node)
    }
  }, 300_000)
})
