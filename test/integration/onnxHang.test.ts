// Long ONNX Runtime calls and hang detection: run() blocks the actor's event loop, so no heartbeat leaves
// while it computes. A call shorter than hangTimeoutMs − heartbeatMs keeps its replica; a far longer one
// gets it judged hung, killed and replaced, and the replacement serves. Figures are printed, not asserted.
import { mkdtemp } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Effect } from "effect"
import { Packr } from "msgpackr"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import type { LifecycleEvent } from "../../src/client/index.js"
import { type LoadedModel, loadModel } from "../../src/model/loader.js"
import { writeOnnxModel } from "../helpers/onnx/builder.js"
import { slowModel } from "../helpers/onnx/fixtures.js"
import { eventually } from "../helpers/processes.js"
import { type Stack, startStack } from "../helpers/stack.js"

const HEARTBEAT_MS = 100
/** Patient: a call of ~1.5 s of CPU misses 15 heartbeats and must not cost the replica (20 s leaves room for a busy host). */
const PATIENT_HANG_MS = 20_000
const PATIENT_CALL_MS = 1_500
/** Strict: a call of ~6 s of CPU is six times the hang timeout: the replica must be judged hung. */
const STRICT_HANG_MS = 1_000
const STRICT_CALL_MS = 6_000

const packr = new Packr({ useRecords: false, mapsAsObjects: true, moreTypes: false })
let stack: Stack
let msPerIteration = 0
const events: Array<LifecycleEvent> = []

/** CPU time of this process in ms. */
const cpuMs = () => {
  const { user, system } = process.cpuUsage()
  return (user + system) / 1000
}

const request = (iterations: number) =>
  packr.pack({
    inputs: {
      iterations: { dtype: "int64", shape: [], data: new Uint8Array(BigInt64Array.from([BigInt(iterations)]).buffer) },
      x: { dtype: "float32", shape: [1, 64], data: new Uint8Array(new Float32Array(64).fill(0.1).buffer) }
    }
  })

const actorOf = async (model: string) =>
  (await stack.client.status()).flatMap((s) => s.actors).find((a) => a.model === model)

beforeAll(async () => {
  const dir = await writeOnnxModel(join(await mkdtemp(join(tmpdir(), "modelbus-onnx-hang-")), "slow"), slowModel())
  // the cost of one iteration, measured here in CPU time (the actor computes the same on one thread)
  const model: LoadedModel = await Effect.runPromise(loadModel(dir))
  const inputs = {
    iterations: { dtype: "int64" as const, shape: [], data: BigInt64Array.from([20_000n]) },
    x: { dtype: "float32" as const, shape: [1, 64], data: new Float32Array(64).fill(0.1) }
  }
  const timings: Array<number> = []
  for (let i = 0; i < 3; i++) {
    const start = cpuMs()
    await model.predict(inputs)
    timings.push((cpuMs() - start) / 20_000)
  }
  model.dispose()
  msPerIteration = Math.min(...timings)
  const common = { path: dir, heartbeatMs: HEARTBEAT_MS, startTimeoutMs: 60_000 }
  stack = await startStack({
    registry: { mode: "off" },
    models: [
      { name: "patient", ...common, hangTimeoutMs: PATIENT_HANG_MS },
      { name: "strict", ...common, hangTimeoutMs: STRICT_HANG_MS, backoff: { initialMs: 0, maxMs: 0 } }
    ]
  })
  await stack.client.onEvents((event) => events.push(event))
}, 120_000)

afterAll(async () => {
  expect((await stack?.stop())?.code).toBe(0)
})

describe("long ONNX Runtime calls and hang detection", () => {
  it("a call spanning many heartbeat intervals but shorter than the hang timeout keeps its replica", async () => {
    const before = await actorOf("patient")
    const iterations = Math.round(PATIENT_CALL_MS / msPerIteration)
    const sent = performance.now()
    const reply = await stack.raw.request("modelbus.infer.patient", request(iterations), { timeout: 60_000 })
    const wallMs = performance.now() - sent
    expect(reply.headers?.get("Nats-Service-Error-Code") ?? "").toBe("")
    const after = await eventually(
      async () => {
        const now = await actorOf("patient")
        return now !== undefined && now.served > (before?.served ?? 0) ? now : undefined
      },
      10_000,
      "the next heartbeat to count the call"
    )
    console.log(
      `patient (heartbeat ${HEARTBEAT_MS} ms, hang timeout ${PATIENT_HANG_MS} ms): one call of ${iterations} iterations ` +
        `(${msPerIteration.toFixed(4)} ms each) answered in ${wallMs.toFixed(0)} ms, replica kept (restarts ${after.restarts})`
    )
    expect(after.pid).toBe(before?.pid)
    expect(after.restarts).toBe(0)
  })

  it("a call far longer than the hang timeout gets its replica judged hung and replaced; the replacement serves", async () => {
    const before = await actorOf("strict")
    const iterations = Math.round(STRICT_CALL_MS / msPerIteration)
    const sent = performance.now()
    const outcome = await stack.raw
      .request("modelbus.infer.strict", request(iterations), { timeout: 8_000 })
      .then(() => "answered" as const)
      .catch(() => "no answer" as const)
    const waitedMs = performance.now() - sent
    const exited = await eventually(
      async () => events.find((e) => e.model === "strict" && e.type === "exited"),
      30_000,
      "the strict replica's exit event"
    )
    const replaced = await eventually(
      async () => {
        const now = await actorOf("strict")
        return now?.state === "serving" && now.pid !== before?.pid ? now : undefined
      },
      60_000,
      "a new strict replica serving"
    )
    const small = await stack.raw.request("modelbus.infer.strict", request(10), { timeout: 30_000 })
    console.log(
      `strict (heartbeat ${HEARTBEAT_MS} ms, hang timeout ${STRICT_HANG_MS} ms): a call of ${iterations} iterations ` +
        `(~${STRICT_CALL_MS} ms of CPU): ${outcome} after ${waitedMs.toFixed(0)} ms; exit reason "${exited.reason}"; ` +
        `replaced (restarts ${replaced.restarts})`
    )
    expect(outcome).toBe("no answer")
    expect(exited.reason).toMatch(/^no heartbeat for \d+ ms$/)
    expect(replaced.restarts).toBe(1)
    expect(small.headers?.get("Nats-Service-Error-Code") ?? "").toBe("")
  })
})
