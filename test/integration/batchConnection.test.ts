// `batch wait` through a restart of its NATS server: it says it lost the connection, waits, says it is
// back, and finishes the job once a replica serves it (the job kept in the server's JetStream store).
import { mkdtemp, writeFile } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, describe, expect, it } from "vitest"
import { type LocalNatsServer, startLocalNatsServer } from "../../src/cli/natsServer.js"
import { encodeNpy } from "../../src/datasets/npy.js"
import { type CliProcess, IRIS_MODEL, runCli, spawnCli, startSupervisor } from "../helpers/processes.js"

const started: Array<{ stop: () => Promise<unknown> }> = []
afterAll(async () => {
  for (const p of started.reverse()) await p.stop()
})

describe("batch wait across a NATS restart", () => {
  it("says when its connection drops and comes back, then finishes the job", async () => {
    const dir = await mkdtemp(join(tmpdir(), "modelbus-batch-connection-"))
    const store = join(dir, "jetstream")
    // the store is ours, so the job outlives the first server
    const first: LocalNatsServer = await startLocalNatsServer({ args: ["-sd", store] })
    started.push(first)
    const server = ["--server", first.url]
    const input = join(dir, "rows.npy")
    await writeFile(
      input,
      encodeNpy({ dtype: "float32", shape: [40, 4], data: Float32Array.from({ length: 160 }, (_, i) => (i % 7) + 0.5) })
    )
    const submit = await runCli([
      "batch",
      "submit",
      "iris",
      "--input",
      input,
      "--chunk-rows",
      "10",
      "--detach",
      ...server
    ])
    expect(submit.code, submit.output).toBe(0)
    const job = /^job (\w+): /m.exec(submit.output)![1]!
    const waiter: CliProcess = spawnCli(["batch", "wait", job, ...server])
    started.push(waiter)
    await waiter.waitForLine(/0\/40 rows/)

    await first.stop()
    await waiter.waitForLine(/^lost the connection to NATS \(127\.0\.0\.1:\d+\): reconnecting; job \w+ goes on/)
    const second = await startLocalNatsServer({ port: first.port, args: ["-sd", store] })
    started.push(second)
    await waiter.waitForLine(
      new RegExp(`^reconnected to NATS \\(127\\.0\\.0\\.1:${first.port}\\): following job ${job} again`)
    )

    const supervisor = await startSupervisor(second.url, { models: [{ name: "iris", path: IRIS_MODEL, replicas: 1 }] })
    started.push(supervisor)
    const exit = await waiter.exited
    expect(exit.code, waiter.output()).toBe(0)
    expect(waiter.output()).toMatch(new RegExp(`job ${job} done: 40 rows, 0 failed`))
  }, 120_000)
})
