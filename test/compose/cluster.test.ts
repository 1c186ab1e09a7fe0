// docker-compose.yml run for real: its base images (stand-ins built where they cannot be pulled), `up
// --build` on free host ports, every service healthy, an inference through each published port, a NATS
// node SIGKILLed under load, an update with it down, `stop`, `down -v`. Skipped only where Docker cannot run.
import { readFileSync } from "node:fs"
import { join } from "node:path"
import { jetstreamManager } from "@nats-io/jetstream"
import { type NatsConnection, connect as natsConnect } from "@nats-io/transport-node"
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest"
import { parse } from "yaml"
import { type Client, connect } from "../../src/client/index.js"
import { DEPLOY, nodeNames, readTopology } from "../helpers/clusterTopology.js"
import { baseImageTags, type ComposeCluster, startComposeCluster } from "../helpers/composeCluster.js"
import { dockerUnavailable, removeUntaggedSince, tryRun, untaggedImages } from "../helpers/docker.js"
import { expectedAnswers, type LoadSummary, startLoad } from "../helpers/load.js"
import { CLI, eventually, IRIS_MODEL, irisRows } from "../helpers/processes.js"
import { ensureBaseImages } from "../helpers/standInImages.js"

const unavailable = await dockerUnavailable()
if (unavailable !== undefined) console.log(`the docker-compose cluster test is skipped: ${unavailable}`)

const MODEL = "iris"
const SETOSA = [5.1, 3.5, 1.4, 0.2]
const topology = readTopology()
const NODES = nodeNames(topology)
const SUPERVISORS = topology.supervisors.map((s) => s.name)
/** The node SIGKILLed: supervisor-1 is attached to it, and the first load client prefers it. */
const VICTIM = NODES[0]!
const REPLICAS_PER_SUPERVISOR = (
  parse(readFileSync(join(DEPLOY, topology.supervisorConfig), "utf8")) as {
    models: Array<{ name: string; replicas: number }>
  }
).models.find((m) => m.name === MODEL)!.replicas

const msSince = (start: number) => Math.round(performance.now() - start)
const printFigures = (what: string, value: unknown) =>
  console.log(`compose cluster figures, ${what}: ${JSON.stringify(value)}`)

/** Runs the modelbus CLI (dist/) from the host: stdout and stderr apart, so --json output parses. */
const modelbus = (args: ReadonlyArray<string>) => tryRun(process.execPath, [CLI, ...args], { timeoutMs: 120_000 })

let cluster: ComposeCluster | undefined
let untaggedBefore: ReadonlySet<string> = new Set()

describe.skipIf(unavailable !== undefined)("docker-compose.yml, run for real", () => {
  beforeAll(async () => {
    untaggedBefore = await untaggedImages()
    const images = await ensureBaseImages(baseImageTags(), (line) => console.log(line))
    printFigures("base images", images)
    const started = performance.now()
    cluster = await startComposeCluster(`mbcompose${process.pid}`)
    printFigures("up --build", { ms: msSince(started), project: cluster.project, ports: cluster.ports })
  }, 60 * 60_000)

  afterAll(async () => {
    if (cluster === undefined) return
    const started = performance.now()
    await cluster.down()
    const untaggedRemoved = await removeUntaggedSince(untaggedBefore)
    printFigures("down -v", { ms: msSince(started), untaggedImagesRemoved: untaggedRemoved })
  }, 10 * 60_000)

  afterEach(async (context) => {
    if (context.task.result?.state === "fail" && cluster !== undefined)
      console.log(`---- ${cluster.project} logs (last lines)\n${await cluster.logs()}`)
  })

  it(
    "turns every service healthy and answers an inference through each published port",
    async () => {
      const healthyAt = await cluster!.healthy(5 * 60_000)
      expect(Object.keys(healthyAt).sort()).toEqual([...NODES, ...SUPERVISORS].sort())
      const inferMs: Record<string, number> = {}
      for (const node of NODES) {
        const started = performance.now()
        const ran = await modelbus([
          "infer",
          MODEL,
          "-s",
          `nats://127.0.0.1:${cluster!.ports[node]}`,
          "--input",
          JSON.stringify([SETOSA])
        ])
        inferMs[node] = msSince(started)
        expect(ran.code, `${node}: ${ran.stderr}`).toBe(0)
        const reply = JSON.parse(ran.stdout) as {
          model: string
          outputs: { shape: Array<number>; data: Array<number> }
        }
        expect(reply.model).toBe(MODEL)
        expect(reply.outputs.shape).toEqual([1, 3])
        // setosa: the first of the three classes
        expect(reply.outputs.data.indexOf(Math.max(...reply.outputs.data))).toBe(0)
      }
      printFigures("healthy (ms after up)", healthyAt)
      printFigures("infer through each published port (ms, CLI start included)", inferMs)
    },
    10 * 60_000
  )

  it(
    "loses no request when a NATS node is SIGKILLed under load, and updates the model with that node down",
    async () => {
      const rows = await irisRows()
      // one client per node, each preferring that node's published port: the load enters everywhere
      const connections: Array<NatsConnection> = []
      const clients: Array<Client> = []
      try {
        for (const node of NODES) {
          const nc = await natsConnect({
            servers: [...cluster!.serversPreferring(node)],
            noRandomize: true,
            name: `compose-test-via-${node}`
          })
          connections.push(nc)
          clients.push(await connect({ connection: nc }))
        }
        const expected = await expectedAnswers(clients[0]!, MODEL, rows)
        const loads = clients.map((client) => startLoad(client, MODEL, rows, expected, 8))
        const answered = () => loads.map((l) => l.summary.requests)
        const progressed = (from: ReadonlyArray<number>, by: number, what: string) =>
          eventually(async () => (answered().every((n, i) => n >= from[i]! + by) ? true : undefined), 120_000, what)
        await progressed([0, 0, 0], 200, "every client's load to run")

        const killedAt = performance.now()
        const beforeKill = answered()
        await cluster!.kill(VICTIM)
        const victimUrl = `127.0.0.1:${cluster!.ports[VICTIM]}`
        await eventually(
          async () => (connections[0]!.getServer() !== victimUrl ? true : undefined),
          120_000,
          `the client on ${VICTIM} to reconnect to another node`
        )
        await progressed(beforeKill, 500, "every client's load to go on after the kill")
        const rideThroughMs = msSince(killedAt)

        // the two nodes left re-form JetStream (a new meta leader when the victim led it)
        const survivor = connections[1]!
        await eventually(
          async () => ((await (await jetstreamManager(survivor)).getAccountInfo()) === undefined ? undefined : true),
          120_000,
          "JetStream on the nodes left"
        )
        const jetStreamMs = msSince(killedAt)

        const live = NODES.filter((n) => n !== VICTIM).map((n) => `nats://127.0.0.1:${cluster!.ports[n]}`)
        const updateStarted = performance.now()
        const update = await modelbus(["update", MODEL, "--path", IRIS_MODEL, "-s", live.join(","), "--json"])
        const updateMs = msSince(updateStarted)
        expect(update.code, update.stderr).toBe(0)
        const result = JSON.parse(update.stdout) as { version: number; acked: Array<string>; pending: Array<string> }
        expect(result.pending).toEqual([])
        expect(result.acked).toHaveLength(SUPERVISORS.length * REPLICAS_PER_SUPERVISOR)

        await progressed(answered(), 200, "every client's load to go on after the update")
        const summaries: Array<LoadSummary> = await Promise.all(loads.map((l) => l.stop()))
        printFigures("node SIGKILLed under load", {
          victim: VICTIM,
          requests: summaries.map((s) => s.requests),
          failed: summaries.map((s) => s.failures.length),
          wrongAnswers: summaries.map((s) => s.wrongAnswers),
          worstMs: summaries.map((s) => Math.round(s.worstMs)),
          killToLoadAgainMs: rideThroughMs,
          killToJetStreamMs: jetStreamMs,
          updateMs,
          version: result.version,
          acked: result.acked.length
        })
        for (const summary of summaries) {
          expect(summary.failures.map(String)).toEqual([])
          expect(summary.wrongAnswers).toBe(0)
        }
      } finally {
        for (const client of clients) await client.close()
        for (const nc of connections) await nc.close()
      }
    },
    10 * 60_000
  )

  it(
    "stops: every supervisor drains and exits 0",
    async () => {
      const started = performance.now()
      const stopped = await cluster!.stop()
      printFigures("stop (exit code, ms after the stop began)", { ms: msSince(started), stopped })
      for (const name of SUPERVISORS) expect(stopped[name]?.exitCode, name).toBe(0)
    },
    10 * 60_000
  )
})
