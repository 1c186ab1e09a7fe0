// The control plane through JetStream leader elections, on a 3-node loopback cluster: `update` and
// `models rollback` run 1, 3 and 5 s after the node that is JetStream's meta leader is SIGKILLed (and a
// canary's abort 1 s after the registry stream's leader is) wait out the election and succeed within
// their own timeout; a lost quorum and no JetStream say so.
import { copyFile, mkdtemp, readFile, rm, writeFile } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { jetstreamManager } from "@nats-io/jetstream"
import { connect as natsConnect } from "@nats-io/transport-node"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { type Client, connect, RegistryUnavailable } from "../../src/client/index.js"
import { bucketNames, kvStream } from "../../src/nats/buckets.js"
import { type LocalCluster, startLocalCluster } from "../helpers/localCluster.js"
import { type CliProcess, eventually, IRIS_MODEL, runCli, startSupervisor } from "../helpers/processes.js"

const SETOSA = [5.1, 3.5, 1.4, 0.2]
const ROLLOUT_TIMEOUT_MS = 30_000

let cluster: LocalCluster
let supervisor: CliProcess
let client: Client
let variant: string

/** A copy of the Iris model with every weight halved: the same signature, other answers. */
const irisVariant = async (): Promise<string> => {
  const dir = await mkdtemp(join(tmpdir(), "modelbus-elections-variant-"))
  await copyFile(join(IRIS_MODEL, "model.json"), join(dir, "model.json"))
  const weights = new Float32Array(new Uint8Array(await readFile(join(IRIS_MODEL, "weights.bin"))).buffer)
  await writeFile(join(dir, "weights.bin"), new Uint8Array(weights.map((w) => w * 0.5).buffer))
  return dir
}

beforeAll(async () => {
  cluster = await startLocalCluster()
  variant = await irisVariant()
  supervisor = await startSupervisor(cluster.urls.join(","), {
    models: [{ name: "iris", path: IRIS_MODEL, replicas: 2 }]
  })
  client = await connect({ servers: [...cluster.urls] })
})

afterAll(async () => {
  await client?.close()
  await supervisor?.stop()
  await cluster?.stop()
  if (variant !== undefined) await rm(variant, { recursive: true, force: true })
})

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)))

/**
 * Every node answers `/healthz` with 200 (its JetStream current with the meta leader's), a meta leader is
 * elected, and every stream's replicas have caught up (the node restarted after the last kill included).
 */
const healthyCluster = async () => {
  const leader = await eventually(
    async () => {
      const codes = await Promise.all(
        cluster.monitorUrls.map((url) =>
          fetch(`${url}/healthz`)
            .then((r) => r.status)
            .catch(() => 0)
        )
      )
      return codes.every((c) => c === 200) ? await cluster.metaLeader() : undefined
    },
    60_000,
    "every node healthy under a JetStream meta leader"
  )
  const healthyAt = performance.now()
  await cluster.caughtUp()
  console.log(
    `elections: every stream caught up ${Math.round(performance.now() - healthyAt)} ms after every node was healthy`
  )
  // the election the catch-up may have waited on can have moved the meta leader
  return (await cluster.metaLeader()) ?? leader
}

const replicas = async () =>
  (await client.status()).flatMap((s) => s.actors).filter((a) => a.model === "iris" && a.pid !== null)

describe("update and rollback while JetStream elects a new meta leader", () => {
  const rounds = [1, 3, 5].flatMap((delayS) => [
    { command: "update", delayS },
    { command: "rollback", delayS }
  ])
  const figures: Array<Record<string, unknown>> = []
  afterAll(() => console.log(`elections figures: ${JSON.stringify(figures)}`))

  for (const { command, delayS } of rounds) {
    it(`${command} run ${delayS} s after the meta leader's node is SIGKILLed succeeds within its timeout`, async () => {
      const leader = await healthyCluster()
      const live = await eventually(
        async () => {
          const now = await replicas()
          return now.length === 2 && now.every((a) => a.state === "serving") ? now : undefined
        },
        60_000,
        "both replicas serving"
      )
      await cluster.kill(leader)
      const killedAt = performance.now()
      await sleep(delayS * 1_000 - (performance.now() - killedAt))
      const args = command === "update" ? ["update", "iris", "--path", variant] : ["models", "rollback", "iris"]
      const started = performance.now()
      const run = await runCli([
        ...args,
        "--json",
        "--timeout",
        String(ROLLOUT_TIMEOUT_MS),
        "--server",
        cluster.urls.join(",")
      ])
      const ms = Math.round(performance.now() - started)
      const json = run.output.slice(run.output.indexOf("{\n"))
      const result =
        run.code === 0
          ? (JSON.parse(json) as { version: number; acked: Array<string>; pending: Array<string>; rolloutMs: number })
          : undefined
      figures.push({
        command,
        afterKillS: delayS,
        killedNode: leader,
        ms,
        rolloutMs: result?.rolloutMs,
        exit: run.code
      })
      try {
        expect(run.code, run.output).toBe(0)
        expect(result, run.output).toBeDefined()
        expect(result!.pending).toEqual([])
        expect([...result!.acked].sort()).toEqual(live.map((a) => a.id).sort())
        expect((await client.infer("iris", [SETOSA])).version).toBe(result!.version)
      } finally {
        await cluster.restart(leader)
      }
    }, 120_000)
  }
})

/** The node leading the registry's KV stream now (its model and canary entries are read and written there). */
const kvLeader = async (): Promise<number> => {
  const nc = await natsConnect({ servers: [...cluster.urls] })
  try {
    const info = await (await jetstreamManager(nc)).streams.info(kvStream(bucketNames("modelbus").models))
    const leader = info.cluster?.leader
    if (leader === undefined) throw new Error("the registry's KV stream has no leader")
    return Number(leader.replace(/^n/, "")) - 1
  } finally {
    await nc.close()
  }
}

describe("a canary while JetStream elects new leaders", () => {
  it("is aborted 1 s after the node leading the registry's KV stream is SIGKILLed, every replica acknowledging", async () => {
    await healthyCluster()
    const live = await eventually(
      async () => {
        const now = await replicas()
        return now.length === 2 && now.every((a) => a.state === "serving") ? now : undefined
      },
      60_000,
      "both replicas serving"
    )
    const stable = (await client.infer("iris", [SETOSA])).version
    const cli = async (args: ReadonlyArray<string>) => {
      const started = performance.now()
      const run = await runCli([
        ...args,
        "--json",
        "--timeout",
        String(ROLLOUT_TIMEOUT_MS),
        "--server",
        cluster.urls.join(",")
      ])
      console.log(`elections: ${args.slice(0, 2).join(" ")} took ${Math.round(performance.now() - started)} ms`)
      expect(run.code, run.output).toBe(0)
      return JSON.parse(run.output.slice(run.output.indexOf("{\n"))) as {
        canary: { phase: string; stable: number }
        acked: Array<string>
        pending: Array<string>
      }
    }
    const started = await cli(["canary", "iris", "--path", variant, "--percent", "10"])
    expect(started.canary).toMatchObject({ phase: "running", stable })
    expect([...started.acked].sort()).toEqual(live.map((a) => a.id).sort())
    // the abort's first registry call, a read of the canary entry, meets the election
    const leader = await kvLeader()
    await cluster.kill(leader)
    try {
      await sleep(1_000)
      const aborted = await cli(["canary", "abort", "iris"])
      expect(aborted.canary.phase).toBe("aborted")
      // a replica left behind says why in its log
      expect(aborted.pending, supervisor.output().slice(-4_000)).toEqual([])
      expect([...aborted.acked].sort()).toEqual(live.map((a) => a.id).sort())
      expect((await client.infer("iris", [SETOSA])).version).toBe(stable)
    } finally {
      await cluster.restart(leader)
    }
  }, 180_000)
})

describe("what a registry call says when it cannot wait the trouble out", () => {
  it("quorum lost: names how many nodes of how many are left", async () => {
    const nodes = [0, 1, 2]
    await healthyCluster()
    const quiet = await connect({ servers: [cluster.urls[2]!] })
    try {
      // the client has seen the whole cluster before two of its nodes go
      await quiet.listModels()
      await cluster.kill(0)
      await cluster.kill(1)
      const started = performance.now()
      const error = await quiet.pushModel("iris", variant).catch((e: unknown) => e)
      console.log(`quorum lost: pushModel gave up after ${Math.round(performance.now() - started)} ms`)
      expect(error).toBeInstanceOf(RegistryUnavailable)
      expect(error).toMatchObject({ reason: "quorumLost" })
      expect((error as RegistryUnavailable).message).toMatch(/^JetStream quorum lost \(1 of 3 nodes\)/)
    } finally {
      await quiet.close()
      for (const n of nodes.slice(0, 2)) await cluster.restart(n)
    }
  }, 120_000)
})
