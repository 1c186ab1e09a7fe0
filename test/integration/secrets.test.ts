// Secrets stay secret: supervisors and CLI commands given passwords in a config file, a URL, the environment
// and flags (wrong ones too) print none of them, nor do events, status, or actors' command lines and environments.
import { readFile } from "node:fs/promises"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import type { LocalNatsServer } from "../../src/cli/natsServer.js"
import { PASSWORDS, startAuthServer } from "../helpers/auth.js"
import { type CliProcess, eventually, IRIS_MODEL, runCli, spawnCli, writeConfig } from "../helpers/processes.js"

const WRONG = { url: "wrong-Url-Pw-3hJ5", config: "wrong-Cfg-Pw-9sD1" } as const
const SECRETS = [...Object.values(PASSWORDS), ...Object.values(WRONG)]

const model = { models: [{ name: "iris", path: IRIS_MODEL, replicas: 1 }] }

let nats: LocalNatsServer
const supervisors: Array<CliProcess> = []
/** Everything the processes of this test printed, with where it came from. */
const printed: Array<{ readonly what: string; readonly text: string }> = []

const withPassword = (url: string, user: string, password: string) => url.replace("://", `://${user}:${password}@`)

beforeAll(async () => {
  nats = await startAuthServer({ monitor: true })
  const inConfig = await writeConfig({
    ...model,
    nats: { servers: nats.url, user: "service", password: PASSWORDS.service }
  })
  const plain = await writeConfig(model)
  supervisors.push(
    spawnCli(["supervise", "--config", inConfig]),
    spawnCli(["supervise", "--config", plain, "-s", withPassword(nats.url, "service", PASSWORDS.service)]),
    spawnCli(["supervise", "--config", plain, "-s", nats.url], {
      NATS_USER: "service",
      NATS_PASSWORD: PASSWORDS.service
    })
  )
  await Promise.all(supervisors.map((s) => s.waitForLine(/modelbus ready/, 60_000)))
})

afterAll(async () => {
  for (const s of supervisors) await s.stop()
  await nats?.stop()
})

/** Waits until a `modelbus events` process's subscription is on the server (its monitor lists it). */
const subscribedToEvents = () =>
  eventually(
    async () => {
      const connz = (await (await fetch(`${nats.monitorUrl}/connz?subs=1`)).json()) as {
        connections: Array<{ name?: string; subscriptions_list?: Array<string> }>
      }
      return connz.connections.some(
        (c) => c.name === "modelbus-cli" && c.subscriptions_list?.includes("modelbus.events.*")
      )
        ? true
        : undefined
    },
    30_000,
    "the events command to subscribe"
  )

describe("secrets", () => {
  it("no password appears in anything printed, in events, in status, or in an actor's command line", async () => {
    // a supervisor's ready line shows its URL with the password masked
    expect(supervisors[1]!.output()).toMatch(/modelbus ready: .* on nats:\/\/service:\*\*\*@127\.0\.0\.1:\d+/)

    const asOperator = ["-s", nats.url, "--user", "operator", "--password", PASSWORDS.operator]
    const events = spawnCli(["events", "--json", "-s", nats.url], {
      NATS_USER: "operator",
      NATS_PASSWORD: PASSWORDS.operator
    })
    await subscribedToEvents()
    const restart = await runCli(["restart", "iris", ...asOperator])
    expect(restart.code).toBe(0)
    // one restart per supervisor: each publishes exited/started/restarted events
    await events.waitForLine(/"type":"restarted".*"supervisor"/)
    await eventually(
      async () => ((events.output().match(/"type":"restarted"/g) ?? []).length === 3 ? true : undefined),
      30_000,
      "a restarted event from each supervisor"
    )
    await events.stop()
    printed.push({ what: "restart", text: restart.output }, { what: "events", text: events.output() })

    // every supervisor's standby is up again after the restart took it: its command line and environment are read too
    const statusJson = await eventually(
      async () => {
        const run = await runCli(["status", "--json", ...asOperator])
        const rows: Array<{ state: string }> = JSON.parse(run.output).actors
        return rows.filter((a) => a.state === "standby").length === 3 ? run : undefined
      },
      60_000,
      "a ready standby on each supervisor"
    )
    const statusTree = await runCli(["status", "-s", withPassword(nats.url, "caller", PASSWORDS.caller)])
    const infer = await runCli(["infer", "iris", "-s", nats.url, "--input", "[[5.1,3.5,1.4,0.2]]"], {
      NATS_USER: "caller",
      NATS_PASSWORD: PASSWORDS.caller
    })
    for (const run of [statusJson, statusTree, infer]) expect(run.code).toBe(0)
    printed.push(
      { what: "status --json", text: statusJson.output },
      { what: "status", text: statusTree.output },
      { what: "infer", text: infer.output }
    )

    // failures: a wrong password in a URL (client), and in a config file (a supervisor that cannot start)
    const wrongUrl = await runCli(["status", "-s", withPassword(nats.url, "caller", WRONG.url)])
    expect(wrongUrl.code).toBe(1)
    expect(wrongUrl.output).toContain("caller:***@")
    const badConfig = await writeConfig({
      ...model,
      nats: { servers: nats.url, user: "service", password: WRONG.config }
    })
    const wrongConfig = await runCli(["supervise", "--config", badConfig])
    expect(wrongConfig.code).toBe(1)
    expect(wrongConfig.output).toMatch(/^modelbus: ConnectionError: .*Authorization Violation/m)
    printed.push({ what: "wrong URL", text: wrongUrl.output }, { what: "wrong config", text: wrongConfig.output })

    const actors: Array<{ pid: number; id: string; model: string }> = JSON.parse(statusJson.output).actors
    expect(actors.filter((a) => a.model === "iris")).toHaveLength(3)
    expect(actors.filter((a) => a.model === "")).toHaveLength(3)
    for (const actor of actors) {
      const cmdline = (await readFile(`/proc/${actor.pid}/cmdline`, "utf8")).split("\0").join(" ")
      const environ = (await readFile(`/proc/${actor.pid}/environ`, "utf8")).split("\0").join("\n")
      expect(cmdline).toMatch(/actors\/main\.js/)
      printed.push({ what: `${actor.id} cmdline`, text: cmdline }, { what: `${actor.id} environment`, text: environ })
    }
    for (const [i, s] of supervisors.entries()) printed.push({ what: `supervisor ${i + 1}`, text: s.output() })

    const leaks = printed.flatMap(({ what, text }) =>
      SECRETS.filter((secret) => text.includes(secret)).map((secret) => `${what} shows ${secret}`)
    )
    expect(leaks).toEqual([])
    // what was searched is what the processes printed: non-empty, and about the right things
    expect(printed.find((p) => p.what === "events")?.text).toMatch(/"type":"started"/)
    expect(printed.find((p) => p.what === "status")?.text).toMatch(/^supervisor /m)
  })
})
