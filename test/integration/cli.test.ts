// The `modelbus` command as a user runs it: `up` serves the example and prints a ready line,
// `infer` prints a prediction, `status --json` lists actors; failures exit 1 with one typed line.
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { type LocalNatsServer, startLocalNatsServer } from "../../src/cli/natsServer.js"
import { eventually, IRIS_MODEL, runCli, spawnCli, startSupervisor, writeConfig } from "../helpers/processes.js"

let nats: LocalNatsServer

beforeAll(async () => {
  nats = await startLocalNatsServer({ monitor: true })
})

/** Waits until a `modelbus events` process is subscribed to `subject` (the server's monitor lists it). */
const subscribed = (subject: string) =>
  eventually(
    async () => {
      const connz = (await (await fetch(`${nats.monitorUrl}/connz?subs=1`)).json()) as {
        connections: Array<{ name?: string; subscriptions_list?: Array<string> }>
      }
      return connz.connections.some((c) => c.name === "modelbus-cli" && c.subscriptions_list?.includes(subject))
        ? true
        : undefined
    },
    30_000,
    `the events command to subscribe to ${subject}`
  )

afterAll(async () => {
  await nats?.stop()
})

describe("modelbus CLI", () => {
  it("up serves the bundled example; infer prints its prediction; status --json lists every actor", async () => {
    const up = spawnCli(["up", "--server", nats.url])
    try {
      const ready = await up.waitForLine(/modelbus ready/, 60_000)
      expect(ready).toContain(nats.url)
      expect(ready).toContain("iris ×2")
      expect(up.output()).toMatch(/try: npx modelbus infer iris -s /)

      const infer = await runCli(["infer", "iris", "-s", nats.url, "--input", "[[5.1,3.5,1.4,0.2],[6.7,3.0,5.2,2.3]]"])
      expect(infer.code).toBe(0)
      const reply = JSON.parse(infer.output)
      expect(reply.model).toBe("iris")
      expect(reply.outputs.shape).toEqual([2, 3])
      const probabilities: Array<number> = reply.outputs.data
      expect(probabilities.slice(0, 3).indexOf(Math.max(...probabilities.slice(0, 3)))).toBe(0)
      expect(probabilities.slice(3).indexOf(Math.max(...probabilities.slice(3)))).toBe(2)

      const status = await runCli(["status", "--json", "-s", nats.url])
      expect(status.code).toBe(0)
      // the replicas; the supervisor's standby (model "") may be listed too
      const actors = JSON.parse(status.output).actors.filter((a: { model: string }) => a.model !== "")
      expect(actors).toHaveLength(2)
      for (const actor of actors) {
        for (const key of ["id", "model", "pid", "state", "version", "loads", "restarts", "served", "supervisor"])
          expect(actor).toHaveProperty(key)
        expect(actor.state).toBe("serving")
        expect(actor.loads).toBe(1)
      }

      const tree = await runCli(["status", "-s", nats.url])
      expect(tree.output).toMatch(/^supervisor \S+ {2}pid \d+ on \S+ {2}up \d+s$/m)
      expect(tree.output).toMatch(/^root {2}one_for_one {2}intensity 3\/10s {2}running/m)
      // iris is the last line under the root unless the standby, once forked, follows it
      expect(tree.output).toMatch(/^[├└]─ iris {2}one_for_one {2}intensity 3\/10s {2}running/m)
      expect(tree.output).toMatch(
        /^[│ ] {2}├─ iris-1@\S+ {2}pid \d+ {2}serving {2}up \d+s {2}v1 {2}loads 1 {2}restarts 0/m
      )
      expect(tree.output).toMatch(/^[│ ] {2}└─ iris-2@\S+ {2}pid \d+ {2}serving/m)
    } finally {
      expect((await up.stop()).code).toBe(0)
    }
  })

  it("fails with one line naming the typed error and exit code 1", async () => {
    const noModel = await runCli(["infer", "nobody", "-s", nats.url, "--input", "[[1]]"])
    expect(noModel.code).toBe(1)
    expect(noModel.output.trim()).toMatch(/^modelbus: NoResponders: no replica is serving modelbus\.infer\.nobody$/)

    const noInput = await runCli(["infer", "iris", "-s", nats.url])
    expect(noInput.code).toBe(1)
    expect(noInput.output).toMatch(/InputMissing: give the inputs with --input JSON or --file FILE/)

    const badJson = await runCli(["infer", "iris", "-s", nats.url, "--input", "[[1,"])
    expect(badJson.code).toBe(1)
    expect(badJson.output).toMatch(/BadInput: --input is not valid JSON/)

    const noServer = await runCli(["status", "-s", "nats://127.0.0.1:1"])
    expect(noServer.code).toBe(1)
    expect(noServer.output).toMatch(/ConnectionError: cannot connect to NATS at nats:\/\/127\.0\.0\.1:1/)

    const fitFile = await writeConfig({ x: [[5.1, 3.5, 1.4, 0.2]], epochs: "3" }, "train.json")
    const badFit = await runCli(["update", "iris", "--fit", fitFile, "-s", nats.url])
    expect(badFit.code).toBe(1)
    expect(badFit.output.trim().split("\n")).toHaveLength(1)
    expect(badFit.output).toContain(`modelbus: BadInput: --fit ${fitFile}: expected a JSON object {"x": inputs`)
    expect(badFit.output).toContain('epochs: Expected number, received the string "3"')
    expect(badFit.output).toContain("; y: missing")

    const config = await writeConfig({ models: [{ name: "iris", path: IRIS_MODEL, extra: true }] })
    const badConfig = await runCli(["supervise", "--config", config, "-s", nats.url])
    expect(badConfig.code).toBe(1)
    expect(badConfig.output).toMatch(
      /ConfigError: invalid config .*Expected no excess property\s+at \["models"\]\[0\]\["extra"\]/
    )
  })

  it("restart, scale and events operate a running supervisor from another shell", async () => {
    const supervisor = await startSupervisor(nats.url, { models: [{ name: "ops", path: IRIS_MODEL, replicas: 2 }] })
    const events = spawnCli(["events", "ops", "-s", nats.url])
    try {
      // a standby takes ops-1's slot within a fraction of a second: the events must be subscribed first
      await subscribed("modelbus.events.ops")
      const restarted = await runCli(["restart", "ops-1", "-s", nats.url])
      expect(restarted.code).toBe(0)
      expect(restarted.output).toMatch(/^supervisor \S+: replaced ops-1@\S+$/m)
      const up = await runCli(["scale", "ops", "3", "-s", nats.url])
      expect(up.output).toMatch(/scaled ops to 3: ops-3@/)
      const down = await runCli(["scale", "ops", "1", "-s", nats.url])
      expect(down.output).toMatch(/scaled ops to 1: ops-2@\S+, ops-3@/)
      await events.waitForLine(/ ops scaled replicas=1 /)
      expect(events.output()).toMatch(/ ops restarted actor=ops-1@\S+ pid=\d+ restarts=1 /)
      expect(events.output()).toMatch(/ ops started actor=ops-1@\S+ pid=\d+ loadMs=\d+ /)
      const tree = await runCli(["status", "-s", nats.url])
      expect(tree.output).toMatch(/└─ ops-1@\S+ {2}pid \d+ {2}serving {2}up \d+s {2}v1 {2}loads 1 {2}restarts 1/)
      expect(tree.output).not.toMatch(/ops-2@/)
      const unknown = await runCli(["restart", "nothing-here", "-s", nats.url])
      expect(unknown.code).toBe(1)
      expect(unknown.output).toMatch(/NotFound: no supervisor runs "nothing-here"/)
    } finally {
      await events.stop()
      expect((await supervisor.stop()).code).toBe(0)
    }
  })

  it("explains itself with --help", async () => {
    const help = await runCli(["--help"])
    expect(help.code).toBe(0)
    for (const command of ["up", "supervise", "infer", "status", "restart", "scale", "events"])
      expect(help.output).toContain(command)
    const inferHelp = await runCli(["infer", "--help"])
    expect(inferHelp.output).toMatch(/--server, -s/)
    expect(inferHelp.output).toMatch(/--input, -i/)
  })
})
