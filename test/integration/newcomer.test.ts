// The README's quick start as a newcomer runs it: `npm start`'s command, then the README's "In another shell" lines,
// read from README.md and run as written (npx, no NATS_URL), in network namespaces where nothing serves port 4222.
import { readFileSync } from "node:fs"
import { dirname, join } from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { type LocalNatsServer, startLocalNatsServer } from "../../src/cli/natsServer.js"
import { createNamespace, type Namespace, type ShellResult } from "../helpers/namespace.js"
import { eventually, IRIS_MODEL, isAlive, ROOT, spawnCli, writeConfig } from "../helpers/processes.js"

const README = readFileSync(join(ROOT, "README.md"), "utf8")
/** What `npm start` runs once it has built (`node dist/cli/main.js up`). */
const START: string = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")).scripts.start

/** The lines of the first fenced `sh` block after the README paragraph that starts with `prefix`. */
const readmeBlockAfter = (prefix: string): ReadonlyArray<string> => {
  const lines = README.split("\n")
  const paragraph = lines.findIndex((line) => line.startsWith(prefix))
  if (paragraph < 0) throw new Error(`README.md has no paragraph starting "${prefix}"`)
  const open = lines.findIndex((line, i) => i > paragraph && line.startsWith("```"))
  if (lines[open] !== "```sh") throw new Error(`README.md: no \`\`\`sh block after "${prefix}"`)
  const close = lines.findIndex((line, i) => i > open && line.startsWith("```"))
  return lines.slice(open + 1, close).filter((line) => line.trim() !== "")
}

/** The README's commands for a second shell while `up` runs. */
const ANOTHER_SHELL = readmeBlockAfter("In another shell")
const lineOf = (pattern: RegExp, what: string): string => {
  const line = ANOTHER_SHELL.find((l) => pattern.test(l))
  if (line === undefined) throw new Error(`README.md's "In another shell" block has no ${what} line`)
  return line
}
const INFER = lineOf(/^npx modelbus infer iris /, "`npx modelbus infer iris`")
const STATUS_JSON = lineOf(/^npx modelbus status --json\b/, "`npx modelbus status --json`")
const STATUS = lineOf(/^npx modelbus status(\s+#|\s*$)/, "`npx modelbus status`")
const KILL = lineOf(/^kill -9 <[^>]*pid>/, "`kill -9 <an actor pid>`")

/**
 * A newcomer's shell: no NATS_URL nor other NATS_* settings; the Node.js running this test first on PATH, so
 * `npx`, `npm start`'s `node` and the CLI's shebang all run on it.
 */
const newcomerEnv: NodeJS.ProcessEnv = {
  ...Object.fromEntries(
    Object.keys(process.env)
      .filter((key) => key.startsWith("NATS_") && key !== "NATS_SERVER_BIN")
      .map((key) => [key, undefined])
  ),
  PATH: `${dirname(process.execPath)}:${process.env.PATH ?? ""}`
}

const succeeded = (result: ShellResult, line: string) => {
  if (result.code !== 0) throw new Error(`\`${line}\` exited ${result.code}:\n${result.stdout}${result.stderr}`)
  return result.stdout
}

interface Actor {
  readonly id: string
  readonly model: string
  readonly pid: number
  readonly state: string
  readonly restarts: number
}

/** The Iris replicas of a status listing (standby rows have no model). */
const replicasOf = (actors: ReadonlyArray<Actor>) => actors.filter((a) => a.model === "iris")

/** Iris's two rows of the README (a setosa, a virginica): classes 0 and 2. */
const expectIrisPrediction = (stdout: string, rows: number) => {
  const reply = JSON.parse(stdout)
  expect(reply.model).toBe("iris")
  expect(reply.outputs.shape).toEqual([rows, 3])
  const data: Array<number> = reply.outputs.data
  const argmax = (row: number) => {
    const p = data.slice(row * 3, row * 3 + 3)
    return p.indexOf(Math.max(...p))
  }
  expect(argmax(0)).toBe(0)
  if (rows > 1) expect(argmax(1)).toBe(2)
}

describe("the README's newcomer path", () => {
  let ns: Namespace | undefined

  afterAll(async () => {
    await ns?.remove()
  })

  it("npm start's command starts nats-server on 127.0.0.1:4222 and the README's other-shell lines work verbatim", async () => {
    ns = await createNamespace("newcomer")
    const shell = (line: string) => ns!.shell(line, { cwd: ROOT, env: newcomerEnv })
    const up = ns.spawn("sh", ["-c", `cd "$0" && exec ${START}`, ROOT], newcomerEnv)
    try {
      const ready = await up.waitForLine(/modelbus ready/, 120_000)
      expect(up.output()).toMatch(/nothing answers on nats:\/\/127\.0\.0\.1:4222; starting a local nats-server/)
      expect(ready).toMatch(/ serving iris ×2 on nats:\/\/127\.0\.0\.1:4222$/)
      expect(up.output()).not.toMatch(/export NATS_URL/)
      const natsServers = (await ns.processes()).filter((p) => p.name === "nats-server")
      expect(natsServers).toHaveLength(1)
      const natsServer = natsServers[0]!.pid

      // the ready line's own suggestion, as printed
      const tryLine = /^\s*try: (.+)$/m.exec(up.output())?.[1]
      expect(tryLine).toBe("npx modelbus infer iris --input '[[5.1,3.5,1.4,0.2]]'")
      expectIrisPrediction(succeeded(await shell(tryLine!), tryLine!), 1)

      expectIrisPrediction(succeeded(await shell(INFER), INFER), 2)

      // the replicas; the supervisor's warm standby is listed apart (model "")
      const listed: ReadonlyArray<Actor> = replicasOf(
        JSON.parse(succeeded(await shell(STATUS_JSON), STATUS_JSON)).actors
      )
      expect(listed.map((a) => a.state)).toEqual(["serving", "serving"])
      const tree = succeeded(await shell(STATUS), STATUS)
      for (const actor of listed) expect(tree).toMatch(new RegExp(`${actor.id}\\b.*\\b${actor.pid}\\b.*serving`))

      // `kill -9 <an actor pid>`: the supervisor restarts that slot; status shows the new pid
      const victim = listed[0]!
      const kill = KILL.replace(/<[^>]*pid>/, String(victim.pid))
      succeeded(await shell(kill), kill)
      const after = await eventually(
        async () => {
          const actors = replicasOf(JSON.parse(succeeded(await shell(STATUS_JSON), STATUS_JSON)).actors)
          const slot = actors.find((a) => a.id === victim.id)
          return slot !== undefined && slot.pid !== victim.pid && actors.every((a) => a.state === "serving")
            ? actors
            : undefined
        },
        90_000,
        `${victim.id} restarted with a new pid`
      )
      expect(after.find((a) => a.id === victim.id)?.restarts).toBe(victim.restarts + 1)

      expect(await up.stop()).toEqual({ code: 0, signal: null })
      expect(isAlive(natsServer)).toBe(false)
      expect(await ns.processes()).toEqual([])
    } finally {
      await up.stop()
    }
  }, 300_000)

  it("with port 4222 held by another program, npm start's command says which NATS_URL to export, and it works", async () => {
    await ns?.remove()
    ns = await createNamespace("newcomer-taken")
    const shell = (line: string) => ns!.shell(line, { cwd: ROOT, env: newcomerEnv })
    // not a NATS server: answers anything with an HTTP error and hangs up
    const holder = ns.spawn(process.execPath, [
      "-e",
      `require("node:net").createServer((s) => s.end("HTTP/1.1 400 Bad Request\\r\\n\\r\\n"))
        .listen(4222, "127.0.0.1", () => console.log("holding 127.0.0.1:4222"))`
    ])
    const up = ns.spawn("sh", ["-c", `cd "$0" && exec ${START}`, ROOT], newcomerEnv)
    try {
      await holder.waitForLine(/holding/)
      const ready = await up.waitForLine(/modelbus ready/, 120_000)
      expect(up.output()).toMatch(/nats-server cannot listen on 127\.0\.0\.1:4222/)
      const exportLine = /^\s*(export NATS_URL=(nats:\/\/127\.0\.0\.1:(\d+)))\s*$/m.exec(up.output())
      expect(exportLine).not.toBeNull()
      const [, exportCommand, url, port] = exportLine!
      expect(port).not.toBe("4222")
      expect(ready).toMatch(new RegExp(` on ${url}$`))

      const tryLine = /^\s*try: (.+)$/m.exec(up.output())?.[1]
      expect(tryLine).toBe(`npx modelbus infer iris -s ${url} --input '[[5.1,3.5,1.4,0.2]]'`)
      expectIrisPrediction(succeeded(await shell(tryLine!), tryLine!), 1)

      const exported = `${exportCommand} && ${INFER}`
      expectIrisPrediction(succeeded(await shell(exported), exported), 2)

      expect(await up.stop()).toEqual({ code: 0, signal: null })
      expect((await ns.processes()).map((p) => p.pid)).toEqual([holder.pid])
    } finally {
      await up.stop()
      await holder.stop()
    }
  }, 300_000)
})

describe("up and the config's nats.servers", () => {
  let nats: LocalNatsServer
  const iris = { models: [{ name: "iris", path: IRIS_MODEL, replicas: 1 }] }
  const noNatsUrl = { NATS_URL: undefined }

  beforeAll(async () => {
    nats = await startLocalNatsServer()
  })

  afterAll(async () => {
    await nats?.stop()
  })

  it("serves on the config's servers when neither --server nor $NATS_URL is given", async () => {
    const config = await writeConfig({ nats: { servers: nats.url }, ...iris })
    const up = spawnCli(["up", "--config", config], noNatsUrl)
    try {
      const ready = await up.waitForLine(/modelbus ready/, 120_000)
      expect(ready).toMatch(new RegExp(` on ${nats.url}$`))
      expect(up.output()).toContain(`try: npx modelbus infer iris -s ${nats.url} --input`)
      expect(up.output()).not.toMatch(/starting a local nats-server/)
    } finally {
      expect((await up.stop()).code).toBe(0)
    }
  })

  it("lets $NATS_URL win over the config's servers", async () => {
    const config = await writeConfig({ nats: { servers: "nats://127.0.0.1:1" }, ...iris })
    const up = spawnCli(["up", "--config", config], { NATS_URL: nats.url })
    try {
      expect(await up.waitForLine(/modelbus ready/, 120_000)).toMatch(new RegExp(` on ${nats.url}$`))
    } finally {
      expect((await up.stop()).code).toBe(0)
    }
  })

  it("fails with one ConnectionError line when the config's servers do not answer, starting no server of its own", async () => {
    const config = await writeConfig({ nats: { servers: "nats://127.0.0.1:1" }, ...iris })
    const up = spawnCli(["up", "--config", config], noNatsUrl)
    const exit = await up.exited
    expect(exit.code).toBe(1)
    expect(up.output()).toMatch(/^modelbus: ConnectionError: .*nats:\/\/127\.0\.0\.1:1/m)
    expect(up.output()).not.toMatch(/starting a local nats-server/)
  })
})
