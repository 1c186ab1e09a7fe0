// `modelbus batch` with real processes: a 20,000-row Iris job completes with every output equal to a direct
// infer, in input order, none missing or doubled, while actors are SIGKILLed, the submitting CLI is killed and
// `batch wait` re-attaches, and the supervisor is restarted; dead-lettered chunks (a row whose model call
// hangs its actor until the supervisor kills it), redelivered after the growing delays of the consumer's
// backoff from a set or a measured ack wait; unreadable files and flags.
import { mkdtemp, readFile, writeFile } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { jetstreamManager } from "@nats-io/jetstream"
import type { Msg, NatsConnection } from "@nats-io/transport-node"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import type { HostTensor, LifecycleEvent } from "../../src/client/index.js"
import { encodeNpy, parseNpy } from "../../src/datasets/npy.js"
import { batchConsumer, batchNames, batchSubjects, type ChunkStarted } from "../../src/protocol/batch.js"
import { backoffMs, timingDescription, UNMEASURED_ACK_WAIT_MS } from "../../src/protocol/batchTiming.js"
import { holdOneChunk } from "../helpers/heldChunk.js"
import { writeOnnxModel } from "../helpers/onnx/builder.js"
import { stallAboveModel } from "../helpers/onnx/fixtures.js"
import { IRIS_MODEL, irisRows, isAlive, runCli, spawnCli, startSupervisor } from "../helpers/processes.js"
import { type Stack, startStack } from "../helpers/stack.js"

const ROWS = 20_000
/** A call of the stall model with a value above this never ends: its actor misses heartbeats and is killed. */
const STALL_ABOVE = 1_000
/** Short enough to keep the test quick, far above any pause of a replica that computes (its calls take ms). */
const STALL_HANG_MS = 3_000
/** Iris replicas for the jobs; one replica of the stall model, judged hung after STALL_HANG_MS. */
const configOf = (stallModel: string) => ({
  supervisor: { intensity: 20, period: 10 },
  models: [
    { name: "iris", path: IRIS_MODEL, replicas: 2 },
    {
      name: "stall",
      path: stallModel,
      replicas: 1,
      heartbeatMs: 100,
      hangTimeoutMs: STALL_HANG_MS,
      backoff: { initialMs: 0, maxMs: 0 }
    }
  ]
})
let CONFIG: ReturnType<typeof configOf>

let stack: Stack
let raw: NatsConnection
let dir: string
let input: string
let rows: Array<Array<number>>
let expected: Float32Array

/** Iris rows repeated to `n`, each nudged by its index so rows differ. */
const makeRows = (iris: ReadonlyArray<ReadonlyArray<number>>, n: number) =>
  Array.from({ length: n }, (_, i) => iris[i % iris.length]!.map((v, k) => v + (k === 1 ? (i % 101) * 0.01 : 0)))

/** What a direct infer answers for each row (in calls of 2,000 rows). */
const directOutputs = async (all: ReadonlyArray<ReadonlyArray<number>>): Promise<Float32Array> => {
  const out = new Float32Array(all.length * 3)
  for (let from = 0; from < all.length; from += 2_000) {
    const part = all.slice(from, from + 2_000)
    const reply = await stack.client.infer("iris", { dtype: "float32", shape: [part.length, 4], data: part.flat() })
    out.set((reply.outputs as HostTensor).data as Float32Array, from * 3)
  }
  return out
}

/** Calls `onStarted` with each chunk a replica starts (in the order the events arrive). */
const watchStarts = (onStarted: (s: ChunkStarted) => void) =>
  raw.subscribe(batchSubjects("modelbus").started("iris"), {
    callback: (error: Error | null, msg: Msg) => {
      if (error === null) onStarted(msg.json<ChunkStarted>())
    }
  })

/** Checks the .npy output against the direct infer: same shape, every row equal, in order. */
const expectSameAsDirect = async (output: string) => {
  const t = parseNpy(output, new Uint8Array(await readFile(output)))
  if ("_tag" in t) throw new Error(t.message)
  expect(t.shape).toEqual([ROWS, 3])
  const got = t.data as Float32Array
  let differing = 0
  for (let i = 0; i < got.length; i++) if (got[i] !== expected[i]) differing++
  expect(differing).toBe(0)
  expect(await readFile(`${output}.errors.jsonl`, "utf8")).toBe("")
}

const jobOf = (output: string) => /job (\w+):/.exec(output)?.[1]

/** `done: 20000 rows, 0 failed, R redeliveries, in T` from a wait's summary line. */
const summaryOf = (line: string) => {
  const m = /done: (\d+) rows, (\d+) failed, (\d+) redeliveries, in (\S+)/.exec(line)
  return m === null ? undefined : { rows: Number(m[1]), failed: Number(m[2]), redeliveries: Number(m[3]), time: m[4] }
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "modelbus-batch-"))
  CONFIG = configOf(await writeOnnxModel(join(dir, "stall"), stallAboveModel(STALL_ABOVE)))
  stack = await startStack(CONFIG)
  raw = stack.raw
  rows = makeRows(await irisRows(), ROWS)
  input = join(dir, "rows.npy")
  await writeFile(input, encodeNpy({ dtype: "float32", shape: [ROWS, 4], data: Float32Array.from(rows.flat()) }))
  expected = await directOutputs(rows)
}, 120_000)

afterAll(async () => {
  await stack?.stop()
})

const server = () => ["--server", stack.nats.url]

/** The config of the stall model's batch consumer. */
const stallConsumer = async () =>
  (await (await jetstreamManager(raw)).consumers.info(batchNames("modelbus").work, batchConsumer("stall"))).config

describe("modelbus batch", () => {
  it("completes 20,000 rows exactly once while actors are SIGKILLed twice and the submitter is killed", async () => {
    // the test pulls one chunk of the job itself, before any exists (its pull waits in the server's queue
    // beside the replicas'), and keeps it until the first kill: the job cannot end before both kills, however
    // fast the replicas run its chunks
    const held = await holdOneChunk(raw, "iris")
    const release = () => void held.release()
    const killed: Array<ChunkStarted> = []
    let starts = 0
    const started = performance.now()
    const sub = watchStarts((s) => {
      starts++
      // the 3rd chunk a replica started, then the next one another live process starts (the chunk the test
      // held, released at the first kill, at the latest): each SIGKILLed right after it took its chunk
      const due = (killed.length === 0 && starts >= 3) || (killed.length === 1 && s.pid !== killed[0]!.pid)
      if (due && isAlive(s.pid)) {
        process.kill(s.pid, "SIGKILL")
        killed.push(s)
        if (killed.length === 1) release()
      }
    })
    const submitter = spawnCli([
      "batch",
      "submit",
      "iris",
      "--input",
      input,
      "--chunk-rows",
      "2000",
      "--ack-wait",
      "2",
      ...server()
    ])
    const line = await submitter.waitForLine(/^job \w+: /, 60_000)
    const job = jobOf(line)!
    process.kill(submitter.pid, "SIGKILL")
    expect((await submitter.exited).signal).toBe("SIGKILL")
    const waited = await runCli(["batch", "wait", job, ...server()])
    expect(waited.code, waited.output).toBe(0)
    const summary = summaryOf(waited.output)!
    sub.unsubscribe()
    expect(killed).toHaveLength(2)
    expect(summary).toMatchObject({ rows: ROWS, failed: 0 })
    const output = join(dir, "killed.npy")
    const results = await runCli(["batch", "results", job, "--output", output, ...server()])
    expect(results.code, results.output).toBe(0)
    await expectSameAsDirect(output)
    console.log(
      `batch under 2 actor SIGKILLs + submitter killed: ${summary.rows} rows, ${summary.redeliveries} redeliveries, ` +
        `${((performance.now() - started) / 1000).toFixed(1)} s to all results (kills on chunks ${killed.map((k) => `${k.chunk}#${k.delivery}`).join(", ")})`
    )
  }, 240_000)

  it("finishes jobs across a supervisor restart; a job submitted with no replica waits for one", async () => {
    const started = performance.now()
    let first: () => void = () => undefined
    const chunkStarted = new Promise<void>((resolve) => {
      first = resolve
    })
    const sub = watchStarts(() => first())
    const submit = async (...extra: Array<string>) => {
      const run = await runCli([
        "batch",
        "submit",
        "iris",
        "--input",
        input,
        "--detach",
        "--json",
        "--ack-wait",
        "2",
        ...extra,
        ...server()
      ])
      expect(run.code, run.output).toBe(0)
      return (JSON.parse(run.output.slice(run.output.indexOf("{"))) as { job: string }).job
    }
    const running = await submit("--chunk-rows", "100")
    await chunkStarted
    sub.unsubscribe()
    const stopped = await stack.supervisor.stop()
    expect(stopped.code).toBe(0)
    const atStop = JSON.parse((await runCli(["batch", "status", running, "--json", ...server()])).output) as {
      done: number
    }
    // no replica now: this one waits
    const waiting = await submit()
    const queued = JSON.parse((await runCli(["batch", "status", waiting, "--json", ...server()])).output)
    expect(queued).toMatchObject({ state: "queued", done: 0, rows: ROWS })
    // and one cancelled before any replica took a chunk: none ever runs
    const dropped = await submit()
    const cancel = await runCli(["batch", "cancel", dropped, ...server()])
    expect(cancel.code, cancel.output).toBe(0)
    // its chunks are gone from the work queue; the waiting job's are all there
    const jsm = await jetstreamManager(raw)
    const left = async (job: string) => {
      const subject = batchSubjects("modelbus").work("iris", job)
      const info = await jsm.streams.info("modelbus_batch_work", { subjects_filter: subject })
      return info.state.subjects?.[subject] ?? 0
    }
    expect(await left(dropped)).toBe(0)
    expect(await left(waiting)).toBe(Math.ceil(ROWS / 1024))
    stack.supervisor = await startSupervisor(stack.nats.url, CONFIG)
    for (const job of [running, waiting]) {
      const waited = await runCli(["batch", "wait", job, ...server()])
      expect(waited.code, waited.output).toBe(0)
      const summary = summaryOf(waited.output)!
      expect(summary).toMatchObject({ rows: ROWS, failed: 0 })
      const output = join(dir, `restarted-${job}.npy`)
      const results = await runCli(["batch", "results", job, "--output", output, ...server()])
      expect(results.code, results.output).toBe(0)
      await expectSameAsDirect(output)
      console.log(
        `batch across a supervisor restart (${job === running ? `${atStop.done} rows done when it stopped` : "submitted while down"}): ` +
          `${summary.rows} rows, ${summary.redeliveries} redeliveries, ${((performance.now() - started) / 1000).toFixed(1)} s`
      )
    }
    const status = JSON.parse((await runCli(["batch", "status", running, "--json", ...server()])).output)
    expect(status).toMatchObject({ state: "done", done: ROWS, failed: 0 })
    const listed = JSON.parse((await runCli(["batch", "list", "--json", ...server()])).output) as {
      jobs: Array<{ job: string; state: string }>
    }
    expect(listed.jobs.filter((j) => [running, waiting, dropped].includes(j.job)).map((j) => j.state)).toEqual([
      "done",
      "done",
      "cancelled"
    ])
    const never = JSON.parse((await runCli(["batch", "status", dropped, "--json", ...server()])).output)
    expect(never).toMatchObject({ state: "cancelled", done: 0, chunksDone: 0 })
  }, 240_000)

  it("writes poison rows to the errors file by index, and the rest in order (.jsonl)", async () => {
    const lines = rows.slice(0, 300).map((r) => JSON.stringify(r))
    lines[0] = '["NaN", 1, 1, 1]'
    lines[150] = "[1, 2]"
    lines[299] = '{"inputs": [1, 1, "-Infinity", 1]}'
    const file = join(dir, "poison.jsonl")
    await writeFile(file, `${lines.join("\n")}\n`)
    const output = join(dir, "poison-out.jsonl")
    const run = await runCli([
      "batch",
      "submit",
      "iris",
      "--input",
      file,
      "--output",
      output,
      "--chunk-rows",
      "64",
      ...server()
    ])
    expect(run.code, run.output).toBe(0)
    const out = (await readFile(output, "utf8")).trimEnd().split("\n")
    expect(out).toHaveLength(300)
    expect([out[0], out[150], out[299]]).toEqual(["null", "null", "null"])
    expect(JSON.parse(out[1]!)).toEqual(Array.from(expected.subarray(3, 6)))
    const errors = (await readFile(`${output}.errors.jsonl`, "utf8"))
      .trimEnd()
      .split("\n")
      .map((l) => JSON.parse(l) as { row: number; error: { _tag: string; message: string } })
    expect(errors.map((e) => [e.row, e.error._tag])).toEqual([
      [0, "BadInput"],
      [150, "BadInput"],
      [299, "BadInput"]
    ])
    expect(errors[1]!.error.message).toBe(`${file}:151: the row: expected shape [4], received [2]`)
  }, 120_000)

  it("dead-letters a chunk whose every delivery kills its actor, and finishes with the rest", async () => {
    // 10,000 rows in chunks of 2,000; row 5,000 (in chunk 2) makes every call holding it hang, so each
    // delivery of chunk 2 ends with its actor judged hung and killed by the supervisor: no race with the chunk
    const table = rows.slice(0, 10_000).map((r) => [...r])
    table[5_000]![2] = STALL_ABOVE * 10
    const data = Float32Array.from(table.flat())
    const file = join(dir, "stall.npy")
    await writeFile(file, encodeNpy({ dtype: "float32", shape: [10_000, 4], data }))
    const exits: Array<LifecycleEvent> = []
    const stopEvents = await stack.client.onEvents((e) => {
      if (e.type === "exited") exits.push(e)
    }, "stall")
    const output = join(dir, "dead.npy")
    const run = await runCli([
      "batch",
      "submit",
      "stall",
      "--input",
      file,
      "--output",
      output,
      "--chunk-rows",
      "2000",
      "--ack-wait",
      "2",
      "--max-deliver",
      "2",
      ...server()
    ])
    stopEvents()
    expect(run.code, run.output).toBe(0)
    // the submitter's ack wait, left alone by the replica, and the backoff from it: one delay, the last kept
    const config = await stallConsumer()
    expect([config.description, config.ack_wait, config.backoff]).toEqual([timingDescription("set"), 2e9, [2e9]])
    // each of the 2 deliveries killed its actor as hung (a busy host may add a spurious kill, never fewer)
    const hung = exits.filter((e) => /^no heartbeat for \d+ ms$/.test(e.reason ?? ""))
    expect(hung.length, JSON.stringify(exits)).toBeGreaterThanOrEqual(2)
    const errors = (await readFile(`${output}.errors.jsonl`, "utf8"))
      .trimEnd()
      .split("\n")
      .map((l) => JSON.parse(l) as { row: number; error: { _tag: string; message: string } })
    expect(errors.map((e) => e.row)).toEqual(Array.from({ length: 2_000 }, (_, i) => 4_000 + i))
    expect(new Set(errors.map((e) => e.error._tag))).toEqual(new Set(["ChunkDeadLettered"]))
    expect(errors[0]!.error.message).toMatch(/^chunk 2 of job \w+ was delivered 2 times and no delivery finished/)
    const t = parseNpy(output, new Uint8Array(await readFile(output)))
    if ("_tag" in t) throw new Error(t.message)
    expect(t.shape).toEqual([10_000, 4])
    const got = t.data as Float32Array
    // the stall model answers its input: every other row back, in order
    expect(Array.from(got.subarray(0, 16_000))).toEqual(Array.from(data.subarray(0, 16_000)))
    expect(got.subarray(16_000, 24_000).every(Number.isNaN)).toBe(true)
    expect(Array.from(got.subarray(24_000))).toEqual(Array.from(data.subarray(24_000)))
  }, 180_000)

  it("redelivers a chunk that kills its actor after the growing delays of the measured ack wait, then dead-letters it", async () => {
    // no --ack-wait: 30 s until the replica times the calls of chunks 0 and 1 (it works them first, alone);
    // then chunk 2, whose row 5,000 hangs every call holding it, is redelivered after 1×, then 2× that. The
    // test SIGKILLs the actor that starts chunk 2 (no race: the chunk never finishes), so the delays, not the
    // supervisor's 3 s hang detection, pace the deliveries; an event that never arrives leaves the kill to it
    const table = rows.slice(0, 10_000).map((r) => [...r])
    table[5_000]![2] = STALL_ABOVE * 10
    const data = Float32Array.from(table.flat())
    const file = join(dir, "stall3.npy")
    await writeFile(file, encodeNpy({ dtype: "float32", shape: [10_000, 4], data }))
    const started = performance.now()
    const starts: Array<{ delivery: number; at: number }> = []
    const sub = raw.subscribe(batchSubjects("modelbus").started("stall"), {
      callback: (error: Error | null, msg: Msg) => {
        const s = error === null ? msg.json<ChunkStarted>() : undefined
        if (s?.chunk !== 2) return
        starts.push({ delivery: s.delivery, at: Math.round(performance.now() - started) })
        if (isAlive(s.pid)) process.kill(s.pid, "SIGKILL")
      }
    })
    const exits: Array<{ at: number; reason: string }> = []
    const stopEvents = await stack.client.onEvents((e) => {
      if (e.type === "exited") exits.push({ at: Math.round(performance.now() - started), reason: e.reason ?? "" })
    }, "stall")
    const output = join(dir, "dead3.npy")
    const run = await runCli([
      "batch",
      "submit",
      "stall",
      "--input",
      file,
      "--output",
      output,
      "--chunk-rows",
      "2000",
      "--max-deliver",
      "3",
      ...server()
    ])
    stopEvents()
    sub.unsubscribe()
    expect(run.code, run.output).toBe(0)
    // measured from the calls (stall calls take ms): below the unmeasured 30 s, and the backoff grown from it
    const config = await stallConsumer()
    const gaps = starts.slice(1).map((s, i) => `${s.at - starts[i]!.at} ms`)
    console.log(
      `backoff ${config.backoff?.map((b) => b / 1e6).join(", ")} ms; chunk 2 started (delivery@ms): ${starts.map((s) => `${s.delivery}@${s.at}`).join(" ")}, gaps ${gaps.join(", ")}; actor exits (ms): ${exits.map((e) => `${e.at} (${e.reason})`).join(", ")}; ${run.output.trim().split("\n").at(-1)}`
    )
    expect(config.description).toBe(timingDescription("measured"))
    expect(config.ack_wait).toBeLessThan(UNMEASURED_ACK_WAIT_MS * 1e6)
    expect(config.backoff).toEqual(backoffMs((config.ack_wait ?? 0) / 1e6, 3).map((ms) => ms * 1e6))
    // each of the 3 deliveries ended with its actor killed (by the test, or as hung)
    expect(exits.length, JSON.stringify(exits)).toBeGreaterThanOrEqual(3)
    const errors = (await readFile(`${output}.errors.jsonl`, "utf8"))
      .trimEnd()
      .split("\n")
      .map((l) => JSON.parse(l) as { row: number; error: { _tag: string; message: string } })
    expect(errors.map((e) => e.row)).toEqual(Array.from({ length: 2_000 }, (_, i) => 4_000 + i))
    expect(new Set(errors.map((e) => e.error._tag))).toEqual(new Set(["ChunkDeadLettered"]))
    expect(errors[0]!.error.message).toMatch(/^chunk 2 of job \w+ was delivered 3 times and no delivery finished/)
    const t = parseNpy(output, new Uint8Array(await readFile(output)))
    if ("_tag" in t) throw new Error(t.message)
    const got = t.data as Float32Array
    expect(Array.from(got.subarray(0, 16_000))).toEqual(Array.from(data.subarray(0, 16_000)))
    expect(Array.from(got.subarray(24_000))).toEqual(Array.from(data.subarray(24_000)))
  }, 180_000)

  it("ends `wait` and a following `submit` with one typed line (exit 1) when the job is cancelled meanwhile", async () => {
    // a model no replica serves: its jobs stay queued until they are cancelled
    const file = join(dir, "ghost.npy")
    await writeFile(
      file,
      encodeNpy({ dtype: "float32", shape: [100, 4], data: Float32Array.from(rows.slice(0, 100).flat()) })
    )
    const following = /^0% {2}0\/100 rows/
    const submitter = spawnCli(["batch", "submit", "ghost", "--input", file, "--chunk-rows", "10", ...server()])
    const job = jobOf(await submitter.waitForLine(/^job \w+: /))!
    await submitter.waitForLine(following)
    const waiter = spawnCli(["batch", "wait", job, ...server()])
    await waiter.waitForLine(following)
    const cancel = await runCli(["batch", "cancel", job, ...server()])
    expect(cancel.code, cancel.output).toBe(0)
    const expected = `modelbus: BatchJobError: job ${job} was cancelled while it was followed: 0 of 10 chunks have a result`
    for (const cli of [waiter, submitter]) {
      const exit = await cli.exited
      expect(exit.code, cli.output()).toBe(1)
      const lines = cli.output().trimEnd().split("\n")
      expect(lines.at(-1)).toBe(expected)
      expect(lines.filter((l) => l.startsWith("modelbus:"))).toHaveLength(1)
    }
    // a wait started after the cancel says so at once
    const late = await runCli(["batch", "wait", job, ...server()])
    expect(late.code).toBe(1)
    expect(late.output.trim()).toBe(`modelbus: BatchJobError: job ${job} was cancelled`)
  }, 120_000)

  it("refuses an unreadable input with one line naming the file and line, submitting nothing", async () => {
    const before = await runCli(["batch", "list", "--json", ...server()])
    const missing = await runCli(["batch", "submit", "iris", "--input", join(dir, "nope.npy"), ...server()])
    expect(missing.code).toBe(1)
    expect(missing.output.trim()).toBe(`modelbus: BadDataset: ${join(dir, "nope.npy")}: no such file`)
    const broken = join(dir, "broken.jsonl")
    await writeFile(broken, "[1,2,3,4]\n[1,2,\n")
    const notJson = await runCli(["batch", "submit", "iris", "--input", broken, ...server()])
    expect(notJson.code).toBe(1)
    expect(notJson.output.trim()).toMatch(new RegExp(`^modelbus: BadDataset: ${broken}:2: not JSON`))
    const wide = join(dir, "wide.npy")
    await writeFile(wide, encodeNpy({ dtype: "float32", shape: [2, 5], data: new Float32Array(10) }))
    const shape = await runCli(["batch", "submit", "iris", "--input", wide, ...server()])
    expect(shape.code).toBe(1)
    expect(shape.output.trim()).toContain("does not fit input")
    const ackWait = await runCli(["batch", "submit", "iris", "--input", wide, "--ack-wait", "0", ...server()])
    expect([ackWait.code, ackWait.output.trim()]).toEqual([
      1,
      "modelbus: BadInput: --ack-wait: expected whole seconds of at least 1, received 0"
    ])
    const maxDeliver = await runCli(["batch", "submit", "iris", "--input", wide, "--max-deliver", "0", ...server()])
    expect([maxDeliver.code, maxDeliver.output.trim()]).toEqual([
      1,
      "modelbus: BadInput: --max-deliver: expected a whole number of at least 1, received 0"
    ])
    const after = await runCli(["batch", "list", "--json", ...server()])
    expect(after.output).toBe(before.output)
  }, 60_000)
})
