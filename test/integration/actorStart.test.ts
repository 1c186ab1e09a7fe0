// An actor process that cannot start tells its supervisor why over IPC before it exits 1: forked
// here from dist/ as the supervisor forks it, with a model path that does not exist.
import { fork } from "node:child_process"
import { join } from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { type LocalNatsServer, startLocalNatsServer } from "../../src/cli/natsServer.js"
import { ACTOR_SETTINGS_ENV, type ActorMessage, type ActorSettings } from "../../src/protocol/ipc.js"
import { ROOT } from "../helpers/processes.js"

let nats: LocalNatsServer

beforeAll(async () => {
  nats = await startLocalNatsServer({ jetstream: false })
})

afterAll(async () => {
  await nats?.stop()
})

/** Forks the actor entry point and collects its IPC messages until its channel closes and it exits. */
const runActor = (settings: ActorSettings) => {
  const child = fork(join(ROOT, "dist/actors/main.js"), [], {
    env: { ...process.env, [ACTOR_SETTINGS_ENV]: JSON.stringify(settings) },
    stdio: ["ignore", "pipe", "pipe", "ipc"],
    serialization: "advanced"
  })
  const messages: Array<ActorMessage> = []
  let output = ""
  child.on("message", (message) => messages.push(message as ActorMessage))
  const collect = (chunk: Buffer) => {
    output += chunk.toString()
  }
  child.stdout!.on("data", collect)
  child.stderr!.on("data", collect)
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)))
  const disconnected = new Promise<void>((resolve) => child.once("disconnect", () => resolve()))
  return Promise.all([exited, disconnected]).then(([code]) => ({ code, messages, output }))
}

describe("an actor that cannot start", () => {
  it("sends startFailed naming the typed error, then exits 1", async () => {
    const missing = join(ROOT, "test/fixtures/no-such-model")
    const { code, messages, output } = await runActor({
      id: "ghost-0",
      model: "ghost",
      path: missing,
      servers: nats.url,
      prefix: "modelbus",
      version: 1,
      heartbeatMs: 60_000
    })
    expect(code).toBe(1)
    // It logs the cause; the one `modelbus: …` line is its supervisor's to print.
    expect(output).toMatch(/level=ERROR .*actor could not start: ModelLoadFailed/)
    expect(output).not.toMatch(/^modelbus: /m)
    const failed = messages.filter((m) => m.type === "startFailed")
    expect(failed).toHaveLength(1)
    expect(failed[0]).toEqual({
      type: "startFailed",
      error: expect.stringMatching(new RegExp(`^ModelLoadFailed: .*no model folder at ${missing}`))
    })
    expect(messages.some((m) => m.type === "ready")).toBe(false)
  })
})
