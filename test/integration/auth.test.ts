// Roles as subject permissions (deploy/auth on nats-server): the tree runs as `service`; a `caller` infers and gets
// status but its update, restart and scale fail at once with PermissionDenied; an `operator` may do them.
import { mkdtemp, readFile, writeFile } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { type NatsConnection, connect as natsConnect } from "@nats-io/transport-node"
import { Effect } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import type { LocalNatsServer } from "../../src/cli/natsServer.js"
import { type Client, connect, ModelClient, PermissionDenied } from "../../src/client/index.js"
import { isStandby } from "../../src/protocol/messages.js"
import { PASSWORDS, startAuthServer } from "../helpers/auth.js"
import { type CliProcess, IRIS_MODEL, runCli, spawnCli, writeConfig } from "../helpers/processes.js"

const IRIS = [[5.1, 3.5, 1.4, 0.2]]
/** Long enough that an error arriving before it cannot be a timeout. */
const TIMEOUT_MS = 10_000

let nats: LocalNatsServer
let supervisor: CliProcess
let caller: Client
let operator: Client

beforeAll(async () => {
  nats = await startAuthServer()
  // the supervisor's credentials in its config file; its actors get them from it
  const config = await writeConfig({
    nats: { servers: nats.url, user: "service", password: PASSWORDS.service },
    models: [
      { name: "iris", path: IRIS_MODEL, replicas: 1 },
      // at zero: the supervisor holds its requests and republishes them, and shares its load on the bus
      { name: "zero", path: IRIS_MODEL, heartbeatMs: 100, autoscale: { min: 0, max: 1, downscaleDelayMs: 60_000 } }
    ]
  })
  supervisor = spawnCli(["supervise", "--config", config])
  await supervisor.waitForLine(/modelbus ready/, 60_000)
  caller = await connect({ servers: nats.url, user: "caller", password: PASSWORDS.caller })
  operator = await connect({ servers: nats.url, user: "operator", password: PASSWORDS.operator, timeoutMs: TIMEOUT_MS })
})

afterAll(async () => {
  await caller?.close()
  await operator?.close()
  await supervisor?.stop()
  await nats?.stop()
})

/** Runs `operation` and returns its rejection with the time it took; fails the test if it succeeds. */
const refusal = async (operation: () => Promise<unknown>) => {
  const started = performance.now()
  const error = await operation().then(
    (value) => {
      throw new Error(`expected PermissionDenied, got ${JSON.stringify(value)}`)
    },
    (e: unknown) => e
  )
  return { error, ms: performance.now() - started }
}

describe("roles as subject permissions", () => {
  it("a caller with default options infers and gets status; the supervisor and actors run as service", async () => {
    const reply = await caller.infer("iris", IRIS)
    expect(reply.model).toBe("iris")
    expect(reply.outputs).toMatchObject({ shape: [1, 3] })
    const [status, ...others] = await caller.status()
    expect(others).toHaveLength(0)
    const replicas = status?.actors.filter((a) => !isStandby(a))
    expect(replicas).toHaveLength(1)
    expect(replicas?.[0]).toMatchObject({ model: "iris", state: "serving", loads: 1 })
    // nothing the service role needs was refused (the registry and membership are on JetStream)
    expect(supervisor.output()).not.toMatch(/violation|cannot announce|RegistryUnavailable/i)
  })

  it("a model at zero wakes for a caller's request under the service role: held, republished, answered", async () => {
    // one attempt: the held request itself must be answered, not a retry after it was lost
    const once = await connect({
      servers: nats.url,
      user: "caller",
      password: PASSWORDS.caller,
      retry: false,
      timeoutMs: 60_000
    })
    try {
      const reply = await once.infer("zero", IRIS)
      expect(reply.model).toBe("zero")
    } finally {
      await once.close()
    }
    expect(supervisor.output()).not.toMatch(/violation/i)
  })

  it("a caller's restart, scale and update fail with PermissionDenied naming the subject, before the timeout", async () => {
    const limited = await connect({
      servers: nats.url,
      user: "caller",
      password: PASSWORDS.caller,
      timeoutMs: TIMEOUT_MS
    })
    try {
      const cases = [
        { run: () => limited.restart("iris", { timeoutMs: TIMEOUT_MS }), subject: "modelbus.control.restart" },
        { run: () => limited.scale("iris", 2, { timeoutMs: TIMEOUT_MS }), subject: "modelbus.control.scale" },
        {
          run: () => limited.updateModel("iris", { path: IRIS_MODEL }, { timeoutMs: TIMEOUT_MS }),
          subject: "modelbus.update.ack.iris"
        },
        { run: () => limited.pushModel("iris", IRIS_MODEL), subject: "$JS.API.INFO" }
      ]
      const figures: Record<string, number> = {}
      for (const { run, subject } of cases) {
        const { error, ms } = await refusal(run)
        figures[subject] = Math.round(ms)
        expect(error).toBeInstanceOf(PermissionDenied)
        expect(error).toMatchObject({ _tag: "PermissionDenied", subject })
        expect((error as PermissionDenied).message).toContain(subject)
        expect(ms).toBeLessThan(TIMEOUT_MS)
      }
      console.log(`PermissionDenied for a caller, ms from the call: ${JSON.stringify(figures)}`)
    } finally {
      await limited.close()
    }
  })

  it("an infer the caller may not publish fails with PermissionDenied, not retried into a Timeout", async () => {
    // the caller may publish modelbus.infer.> only: another prefix is refused by the server
    const { error, ms } = await refusal(() =>
      Effect.runPromise(
        Effect.gen(function* () {
          const client = yield* ModelClient
          return yield* client.infer("iris", IRIS)
        }).pipe(
          Effect.provide(
            ModelClient.layer({
              servers: nats.url,
              user: "caller",
              password: PASSWORDS.caller,
              prefix: "elsewhere",
              timeoutMs: TIMEOUT_MS
            })
          )
        )
      )
    )
    expect(error).toBeInstanceOf(PermissionDenied)
    expect(error).toMatchObject({ subject: "elsewhere.infer.iris", operation: "publish" })
    expect(ms).toBeLessThan(TIMEOUT_MS)
  })

  it("the CLI prints one PermissionDenied line and exits 1 for a caller's restart and scale", async () => {
    const flags = ["-s", nats.url, "--user", "caller", "--password", PASSWORDS.caller, "--timeout", `${TIMEOUT_MS}`]
    for (const [args, subject] of [
      [["restart", "iris"], "modelbus.control.restart"],
      [["scale", "iris", "3"], "modelbus.control.scale"]
    ] as const) {
      const run = await runCli([...args, ...flags])
      expect(run.code).toBe(1)
      expect(run.output.trim().split("\n")).toEqual([expect.stringMatching(/^modelbus: PermissionDenied: .*/)])
      expect(run.output).toContain(subject)
    }
  })

  it("a caller describes a model; an operator reads NATS micro discovery", async () => {
    expect(await caller.describe("iris")).toMatchObject({ name: "iris", inputs: [{ name: "measurements" }] })
    const nc = await natsConnect({ servers: nats.url, user: "operator", pass: PASSWORDS.operator })
    try {
      const ping = await nc.request("$SRV.PING.modelbus-iris", undefined, { timeout: TIMEOUT_MS })
      expect(ping.json()).toMatchObject({ type: "io.nats.micro.v1.ping_response", name: "modelbus-iris" })
    } finally {
      await nc.close()
    }
    // the actors' describe and $SRV subscriptions are allowed to the service role
    expect(supervisor.output()).not.toMatch(/violation/i)
  })

  it("an operator restarts, updates and scales", async () => {
    const restarted = await operator.restart("iris", { timeoutMs: 60_000 })
    expect(restarted.flatMap((r) => r.done)).toHaveLength(1)
    const updated = await operator.updateModel("iris", { path: IRIS_MODEL }, { timeoutMs: 60_000 })
    expect(updated).toMatchObject({ version: 2, pending: [] })
    expect(updated.acked).toHaveLength(1)
    expect((await caller.infer("iris", IRIS)).version).toBe(2)
    const scaled = await operator.scale("iris", 2, { timeoutMs: 60_000 })
    expect(scaled.flatMap((r) => r.done)).toHaveLength(1)
  })

  it("an operator's batch job runs on the service actors; a caller may not submit one", async () => {
    const dir = await mkdtemp(join(tmpdir(), "modelbus-auth-batch-"))
    const input = join(dir, "rows.jsonl")
    await writeFile(input, `${Array.from({ length: 50 }, () => JSON.stringify(IRIS[0])).join("\n")}\n`)
    const output = join(dir, "out.jsonl")
    const operatorFlags = ["--server", nats.url, "--user", "operator", "--password", PASSWORDS.operator]
    const run = await runCli(["batch", "submit", "iris", "--input", input, "--output", output, ...operatorFlags])
    expect(run.code, run.output).toBe(0)
    const lines = (await readFile(output, "utf8")).trimEnd().split("\n")
    expect(lines).toHaveLength(50)
    expect(lines.every((l) => l === lines[0] && l !== "null")).toBe(true)
    const refused = await runCli([
      "batch",
      "submit",
      "iris",
      "--input",
      input,
      "--server",
      nats.url,
      "--user",
      "caller",
      "--password",
      PASSWORDS.caller
    ])
    expect(refused.code).toBe(1)
    expect(refused.output.trim().split("\n").at(-1)).toMatch(/^modelbus: BatchJobError: /)
  })

  it("a client on an open connection uses it and leaves it open", async () => {
    const nc: NatsConnection = await natsConnect({ servers: nats.url, user: "caller", pass: PASSWORDS.caller })
    try {
      const client = await connect({ connection: nc })
      expect((await client.infer("iris", IRIS)).model).toBe("iris")
      await client.close()
      expect(nc.isClosed()).toBe(false)
      await nc.flush()
    } finally {
      await nc.close()
    }
  })
})

describe("the CLI with credentials", () => {
  it("takes them from flags, from the environment, or from the server URL", async () => {
    const input = ["--input", JSON.stringify(IRIS)]
    const viaFlags = await runCli([
      "infer",
      "iris",
      "-s",
      nats.url,
      "--user",
      "caller",
      "--password",
      PASSWORDS.caller,
      ...input
    ])
    const viaEnv = await runCli(["infer", "iris", "-s", nats.url, ...input], {
      NATS_USER: "caller",
      NATS_PASSWORD: PASSWORDS.caller
    })
    const viaUrl = await runCli([
      "infer",
      "iris",
      "-s",
      nats.url.replace("://", `://caller:${PASSWORDS.caller}@`),
      ...input
    ])
    for (const run of [viaFlags, viaEnv, viaUrl]) {
      expect(run.code).toBe(0)
      expect(JSON.parse(run.output).model).toBe("iris")
    }
    // a flag wins over the environment
    const flagWins = await runCli(
      ["status", "--json", "-s", nats.url, "--user", "caller", "--password", PASSWORDS.caller],
      {
        NATS_USER: "caller",
        NATS_PASSWORD: "not-the-password"
      }
    )
    expect(flagWins.code).toBe(0)
    const wrong = await runCli(["status", "-s", nats.url, "--user", "caller", "--password", "not-the-password"])
    expect(wrong.code).toBe(1)
    expect(wrong.output.trim()).toMatch(
      /^modelbus: ConnectionError: cannot connect to NATS at nats:\/\/127\.0\.0\.1:\d+: Authorization Violation$/
    )
  })
})
