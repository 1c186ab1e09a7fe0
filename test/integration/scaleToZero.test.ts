// Scale to zero with real processes: a model with `autoscale.min: 0` starts with no replica, its
// supervisor holds the requests that arrive and republishes them once a woken replica serves (a
// raw NATS request and the modelbus client both get their answer), holding is bounded (Overloaded)
// and ends at the request's deadline (DeadlineExceeded); a batch job submitted at zero wakes the model
// and it goes back to zero after the job; a model that cannot start fails held requests at once.
import { mkdtemp, readFile, writeFile } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { headers as natsHeaders } from "@nats-io/transport-node"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import type { HostTensor } from "../../src/client/index.js"
import { encodeNpy, parseNpy } from "../../src/datasets/npy.js"
import type { LifecycleEvent } from "../../src/protocol/messages.js"
import { expectedAnswers, type LoadSummary, startLoad } from "../helpers/load.js"
import { eventually, IRIS_MODEL, irisRows, isAlive, runCli } from "../helpers/processes.js"
import { type Stack, startStack } from "../helpers/stack.js"

const ROW = [5.1, 3.5, 1.4, 0.2]
const zeroPolicy = {
  min: 0,
  max: 1,
  targetInflight: 1,
  upscaleDelayMs: 0,
  downscaleDelayMs: 1_000,
  lookbackMs: 300,
  maxHeldRequests: 3
}

/**
 * The same policy with the default bound on held requests, for a steady load: a caller's retries and
 * hedges while the model wakes are held too, so a bound of 3 would refuse some of a 3-caller load.
 */
const { maxHeldRequests: _heldBound, ...steadyPolicy } = zeroPolicy

const jsonHeaders = () => {
  const h = natsHeaders()
  h.set("Content-Type", "application/json")
  return h
}

/** A raw NATS request with a JSON body, as any NATS client would send it: its reply's error code and body. */
const rawRequest = async (stack: Stack, model: string, body: object) => {
  const reply = await stack.raw.request(`modelbus.infer.${model}`, JSON.stringify(body), {
    timeout: 60_000,
    headers: jsonHeaders()
  })
  return { code: reply.headers?.get("Nats-Service-Error-Code") ?? "", body: reply.json<Record<string, unknown>>() }
}

/** The model's scaled events, and the pids of the replicas that started (to await their exit). */
const eventsOf = async (stack: Stack, model: string) => {
  const events: Array<LifecycleEvent> = []
  const started: Array<number> = []
  const stop = await stack.client.onEvents((e) => {
    if (e.type === "scaled") events.push(e)
    if (e.type === "started" && e.pid !== undefined) started.push(e.pid)
  }, model)
  return { events, started, stop }
}

describe("scale to zero", () => {
  let stack: Stack
  let watched: Awaited<ReturnType<typeof eventsOf>>
  let watchedSteady: Awaited<ReturnType<typeof eventsOf>>

  beforeAll(async () => {
    stack = await startStack({
      supervisor: { maxActors: 2, standby: 1 },
      models: [
        { name: "iris", path: IRIS_MODEL, heartbeatMs: 100, autoscale: zeroPolicy },
        { name: "iris-steady", path: IRIS_MODEL, heartbeatMs: 100, autoscale: steadyPolicy }
      ]
    })
    watched = await eventsOf(stack, "iris")
    watchedSteady = await eventsOf(stack, "iris-steady")
  }, 90_000)
  afterAll(async () => {
    watched?.stop()
    watchedSteady?.stop()
    await stack?.stop()
  })

  /** The answers the load checks against, from the model itself (this wakes it; the test waits for zero first). */
  const expectedAnswersAtZero = async (model: string, rows: ReadonlyArray<ReadonlyArray<number>>) => {
    const before = watchedOf(model).events.length
    const answers = await expectedAnswers(stack.client, model, rows)
    await backAtZero(before, model)
    return answers
  }

  const watchedOf = (model: string) => (model === "iris" ? watched : watchedSteady)
  const replicasOf = async (model: string) => (await stack.client.status())[0]!.actors.filter((a) => a.model === model)
  const irisReplicas = () => replicasOf("iris")
  const backAtZero = async (after: number, model = "iris") => {
    const seen = watchedOf(model)
    await eventually(
      async () => seen.events.slice(after).find((e) => e.replicas === 0),
      60_000,
      `a scaled event of ${model} back to 0 replicas`
    )
    await eventually(
      async () => ((await replicasOf(model)).length === 0 ? true : undefined),
      30_000,
      `no ${model} replica`
    )
    // a removed replica drains before it exits, still in the queue group: at zero means its process is gone
    await eventually(
      async () => (seen.started.every((pid) => !isAlive(pid)) ? true : undefined),
      30_000,
      "the woken replicas' processes to exit"
    )
  }

  it("starts with no replica; a raw NATS request wakes it and gets its JSON answer, then it goes back to zero", async () => {
    expect(await irisReplicas()).toEqual([])
    const first = await rawRequest(stack, "iris", { inputs: [ROW] })
    expect(first.code).toBe("")
    expect(first.body.outputs).toBeDefined()
    expect(first.body.model).toBe("iris")
    const woken = watched.events.find((e) => e.replicas === 1)!
    expect(woken.reason).toBe("woken by a held request")
    expect(woken.decidedBy).toMatch(/^autoscale@/)
    await backAtZero(0)
  }, 120_000)

  it("the modelbus client's first request at zero gets its answer, with no error", async () => {
    const before = watched.events.length
    const reply = await stack.client.infer("iris", [ROW])
    expect(reply.model).toBe("iris")
    expect(watched.events.slice(before).some((e) => e.replicas === 1)).toBe(true)
    await backAtZero(before)
  }, 120_000)

  it("a steady load that starts at zero costs no failed request: held, woken, served, then back to zero", async () => {
    const rows = await irisRows()
    const expected = await expectedAnswersAtZero("iris-steady", rows)
    const before = watchedSteady.events.length
    const load = startLoad(stack.client, "iris-steady", rows, expected, 3)
    let summary: LoadSummary
    try {
      await eventually(
        async () => (load.summary.requests >= 50 ? true : undefined),
        60_000,
        "50 requests answered under load"
      )
    } finally {
      summary = await load.stop()
    }
    expect(summary.failures).toEqual([])
    expect(summary.wrongAnswers).toBe(0)
    expect(watchedSteady.events.slice(before).some((e) => e.reason === "woken by a held request")).toBe(true)
    await backAtZero(before, "iris-steady")
  }, 120_000)

  it("a batch job submitted at zero wakes the model, completes with every row as a direct infer, then it goes back to zero", async () => {
    const iris = await irisRows()
    const rows = Array.from({ length: 1_000 }, (_, i) =>
      iris[i % iris.length]!.map((v, k) => v + (k === 3 ? i * 1e-3 : 0))
    )
    const data = Float32Array.from(rows.flat())
    // the answers to compare with, from the model itself (this wakes it: the job is submitted once it is back at zero)
    const before = watched.events.length
    const direct = await stack.client.infer("iris", { dtype: "float32", shape: [rows.length, 4], data })
    const expected = Array.from((direct.outputs as HostTensor).data as Float32Array)
    await backAtZero(before)
    expect(await irisReplicas()).toEqual([])
    const dir = await mkdtemp(join(tmpdir(), "modelbus-batch-zero-"))
    const input = join(dir, "rows.npy")
    const output = join(dir, "out.npy")
    await writeFile(input, encodeNpy({ dtype: "float32", shape: [rows.length, 4], data }))
    const atZero = watched.events.length
    // no replica answers describe at zero: the job goes unchecked, and its queued chunks wake the model
    const run = await runCli([
      "batch",
      "submit",
      "iris",
      "--input",
      input,
      "--output",
      output,
      "--chunk-rows",
      "100",
      "--server",
      stack.nats.url
    ])
    expect(run.code, run.output).toBe(0)
    expect(run.output).toMatch(/done: 1000 rows, 0 failed/)
    const t = parseNpy(output, new Uint8Array(await readFile(output)))
    if ("_tag" in t) throw new Error(t.message)
    expect(t.shape).toEqual([rows.length, 3])
    expect(Array.from(t.data as Float32Array)).toEqual(expected)
    const woken = watched.events.slice(atZero).find((e) => e.replicas === 1)!
    expect(woken.reason).toBe("woken by queued batch work")
    await backAtZero(atZero)
  }, 180_000)

  it("holds at most maxHeldRequests (the rest get Overloaded 503) and answers a request held past its deadline with DeadlineExceeded 504", async () => {
    const short = rawRequest(stack, "iris", { inputs: [ROW], timeoutMs: 20 })
    const burst = Array.from({ length: 5 }, () => rawRequest(stack, "iris", { inputs: [ROW] }))
    const replies = await Promise.all([short, ...burst])
    expect(replies[0]!.code).toBe("504")
    expect((replies[0]!.body.error as { _tag: string })._tag).toBe("DeadlineExceeded")
    const codes = replies.slice(1).map((r) => r.code)
    expect(codes.filter((c) => c === "503")).toHaveLength(3)
    expect(codes.filter((c) => c === "")).toHaveLength(2)
    const refused = replies.slice(1).find((r) => r.code === "503")!
    expect((refused.body.error as { message: string }).message).toContain("autoscale.maxHeldRequests")
  }, 120_000)
})

describe("scale to zero, a model that cannot start", () => {
  let stack: Stack

  beforeAll(async () => {
    const empty = await mkdtemp(join(tmpdir(), "modelbus-nomodel-"))
    stack = await startStack({
      supervisor: { maxActors: 2, standby: 0 },
      models: [
        {
          name: "broken",
          path: empty,
          heartbeatMs: 100,
          restart: "temporary",
          autoscale: { ...zeroPolicy, downscaleDelayMs: 60_000 }
        }
      ]
    })
  }, 90_000)
  afterAll(() => stack?.stop())

  it("answers the held request with InferenceFailed once the woken replica fails to start, and does not wake again per request", async () => {
    const failed = await rawRequest(stack, "broken", { inputs: [ROW] })
    expect(failed.code).toBe("500")
    const error = failed.body.error as { _tag: string; message: string }
    expect(error._tag).toBe("InferenceFailed")
    expect(error.message).toContain("could not wake")
    const status = (await stack.client.status())[0]!
    const restarts = status.actors.filter((a) => a.model === "broken").map((a) => a.restarts)
    // a second request is held, not a second wake: the slot that failed stays (it is not restarted)
    const second = rawRequest(stack, "broken", { inputs: [ROW], timeoutMs: 300 })
    expect((await second).code).toBe("504")
    const after = (await stack.client.status())[0]!
    expect(after.actors.filter((a) => a.model === "broken").map((a) => a.restarts)).toEqual(restarts)
    expect(after.tree?.models[0]?.autoscale?.target).toBe(1)
  }, 120_000)
})
