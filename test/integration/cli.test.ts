// The `modelbus` command as a user runs it: `up` serves the example and prints a ready line,
// `infer` prints a prediction, `status --json` lists actors; failures exit 1 with one typed line,
// usage errors 2 with a short message; every command's --json parses; progress suits a pipe.
import { spawn } from "node:child_process"
import { mkdtemp } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { connect } from "@nats-io/transport-node"
import * as tfl from "@tensorflow/tfjs-layers"
import { Effect } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { type LocalNatsServer, startLocalNatsServer } from "../../src/cli/natsServer.js"
import { folderSaveHandler } from "../../src/model/files.js"
import { initRuntime } from "../../src/model/runtime.js"
import { CLI, eventually, IRIS_MODEL, runCli, spawnCli, startSupervisor, writeConfig } from "../helpers/processes.js"

/** Runs the CLI to its exit with stdout and stderr apart (scripts read stdout; progress goes to stderr, a pipe here). */
const runApart = (args: ReadonlyArray<string>) =>
  new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
    const child = spawn(process.execPath, [CLI, ...args], { stdio: ["ignore", "pipe", "pipe"] })
    let stdout = ""
    let stderr = ""
    child.stdout.on("data", (c: Buffer) => (stdout += c.toString()))
    child.stderr.on("data", (c: Buffer) => (stderr += c.toString()))
    child.once("close", (code) => resolve({ code, stdout, stderr }))
  })

/** The lines a run wrote on stderr. */
const linesOf = (text: string) => text.split("\n").filter((l) => l !== "")

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

  it("exits 2 on a usage error with the problem and where to read more, never the whole help", async () => {
    const cases: ReadonlyArray<[ReadonlyArray<string>, RegExp, string]> = [
      [["--bogus"], /^modelbus: Unrecognized flag: --bogus/, "modelbus"],
      [
        ["infer", "--timeout", "abc", "iris"],
        /^modelbus infer: Invalid value for flag --timeout: "abc"/,
        "modelbus infer"
      ],
      [[], /^modelbus: a command is required: up, supervise, infer, status/, "modelbus"],
      [["infer"], /^modelbus infer: Missing required argument: model$/, "modelbus infer"],
      [
        ["models"],
        /^modelbus models: a command is required: list, history, rollback, push, describe$/,
        "modelbus models"
      ]
    ]
    for (const [args, problem, command] of cases) {
      const run = await runApart(args)
      expect(run.code, `modelbus ${args.join(" ")}`).toBe(2)
      expect(run.stdout).toBe("")
      expect(linesOf(run.stderr)).toEqual([expect.stringMatching(problem), `see \`${command} --help\``])
      expect(run.stderr).not.toMatch(/USAGE|DESCRIPTION|ShowHelp/)
    }
    const help = await runApart(["models", "--help"])
    expect(help.code).toBe(0)
    expect(help.stdout).toMatch(/USAGE/)
    expect(help.stderr).toBe("")
  })

  it("status exits 1 with NotFound when no supervisor answers, as text and as --json", async () => {
    const empty = await startLocalNatsServer({ jetstream: false })
    try {
      for (const json of [[], ["--json"]]) {
        const run = await runApart(["status", ...json, "-s", empty.url])
        expect(run.code).toBe(1)
        expect(run.stdout).toBe("")
        expect(linesOf(run.stderr)).toEqual(["modelbus: NotFound: no supervisor answered on modelbus.status"])
      }
    } finally {
      await empty.stop()
    }
  })

  it("prints every command's result as JSON with --json; an unknown model is NotFound, a version not kept VersionNotFound; progress suits a pipe", async () => {
    const supervisor = await startSupervisor(nats.url, { models: [{ name: "js", path: IRIS_MODEL, replicas: 1 }] })
    const raw = await connect({ servers: nats.url })
    try {
      const json = async (args: ReadonlyArray<string>) => {
        const run = await runApart([...args, "--json", "-s", nats.url])
        expect(run.code, `modelbus ${args.join(" ")}: ${run.stderr}`).toBe(0)
        return { value: JSON.parse(run.stdout), stderr: run.stderr }
      }
      const failure = async (args: ReadonlyArray<string>) => {
        const run = await runApart([...args, "-s", nats.url])
        expect(run.code).toBe(1)
        expect(run.stdout).toBe("")
        return linesOf(run.stderr)
      }

      // the replica (the supervisor's warm standby, once forked, is a row with no model)
      const models = (await json(["status"])).value.actors.map((a: { model: string }) => a.model)
      expect(models.filter((m: string) => m !== "")).toEqual(["js"])
      expect((await json(["infer", "js", "--input", "[[5.1,3.5,1.4,0.2]]"])).value.outputs.shape).toEqual([1, 3])
      expect((await json(["models", "describe", "js"])).value).toMatchObject({ name: "js", version: 1 })
      const listed = (await json(["models", "list"])).value.models
      expect(listed).toContainEqual(
        expect.objectContaining({ model: "js", current: expect.objectContaining({ version: 1 }) })
      )
      const history = (await json(["models", "history", "js"])).value
      expect(history.model).toBe("js")
      expect(history.versions.map((v: { version: number }) => v.version)).toEqual([1])

      expect(await failure(["models", "history", "nobody"])).toEqual([
        'modelbus: NotFound: no model "nobody" in the registry'
      ])
      expect(await failure(["scale", "nobody", "2"])).toEqual([expect.stringMatching(/^modelbus: NotFound: /)])
      expect(await failure(["models", "rollback", "js", "--to", "99"])).toEqual([
        "modelbus: VersionNotFound: cannot roll js back to version 99: kept versions are 1"
      ])

      // A model of ~1.3 MB uploads in 128 KiB chunks: on a pipe, a line per quarter and no carriage return.
      await Effect.runPromise(initRuntime("wasm"))
      const wide = tfl.sequential({
        layers: [
          tfl.layers.dense({ inputShape: [4], units: 40_000, activation: "relu", name: "wide" }),
          tfl.layers.dense({ units: 3, activation: "softmax", name: "species" })
        ]
      })
      const wideDir = await mkdtemp(join(tmpdir(), "modelbus-wide-"))
      await wide.save(folderSaveHandler(wideDir))
      wide.dispose()
      const pushed = await json(["models", "push", "js", "--path", wideDir, "--force"])
      expect(pushed.value).toMatchObject({ model: "js", version: 2, format: "layers" })
      expect(pushed.stderr).not.toContain("\r")
      const steps = linesOf(pushed.stderr)
      expect(steps.length).toBeGreaterThanOrEqual(2)
      expect(steps.length).toBeLessThanOrEqual(4)
      for (const step of steps) expect(step).toMatch(/^uploading \d+ \/ \d+ KiB \(\d+%\)$/)
      expect(steps.at(-1)).toMatch(/\(100%\)$/)

      const updated = (await json(["update", "js", "--path", IRIS_MODEL, "--force"])).value
      expect(updated).toMatchObject({ model: "js", version: 3, pending: [] })
      expect(updated.acked).toHaveLength(1)

      // update --fit: each epoch is published as the replica finishes it, and printed as it arrives
      const epochs: Array<{ epoch: number; epochs: number }> = []
      const progress = raw.subscribe("modelbus.events.js.fit.>", {
        callback: (_e, msg) => {
          epochs.push(msg.json())
        }
      })
      await raw.flush()
      const VERSICOLOR = [5.9, 3.0, 4.2, 1.5]
      const fitFile = await writeConfig(
        {
          x: Array.from({ length: 16 }, () => VERSICOLOR),
          y: Array.from({ length: 16 }, () => [0, 1, 0]),
          epochs: 5,
          batchSize: 16
        },
        "fit.json"
      )
      const fitted = await json(["update", "js", "--fit", fitFile])
      progress.unsubscribe()
      expect(fitted.value).toMatchObject({ model: "js", version: 4, pending: [] })
      expect(fitted.value.loss).toHaveLength(5)
      expect(epochs.map((e) => `${e.epoch}/${e.epochs}`)).toEqual(["1/5", "2/5", "3/5", "4/5", "5/5"])
      expect(linesOf(fitted.stderr)).toEqual(
        [1, 2, 3, 4, 5].map((n) =>
          expect.stringMatching(new RegExp(`^epoch ${n}/5  loss \\d+\\.\\d{4}  \\(js-1@\\S+\\)$`))
        )
      )

      const rolled = (await json(["models", "rollback", "js", "--to", "1"])).value
      expect(rolled).toMatchObject({ model: "js", version: 5, pending: [] })
      const scaled = (await json(["scale", "js", "2"])).value
      expect(scaled).toMatchObject({ model: "js", replicas: 2 })
      expect(scaled.supervisors[0].done).toEqual([expect.stringMatching(/^js-2@/)])
      const restarted = (await json(["restart", "js-1"])).value
      expect(restarted).toMatchObject({ target: "js-1" })
      expect(restarted.supervisors[0].done).toEqual([expect.stringMatching(/^js-1@/)])
    } finally {
      await raw.close()
      expect((await supervisor.stop()).code).toBe(0)
    }
  })
})
