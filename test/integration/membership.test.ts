// What a cluster changes, on a 3-node loopback cluster: replicated registry buckets (created with
// and raised to `registry.replicas`), supervisors announced so status waits for exactly them, and a
// node lost under load (the client's requests in flight retried, the actors reconnected, not restarted).
import { jetstreamManager } from "@nats-io/jetstream"
import { Kvm } from "@nats-io/kv"
import { type NatsConnection, connect as natsConnect } from "@nats-io/transport-node"
import { Effect } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { type Client, connect } from "../../src/client/index.js"
import { bindMembers, memberIds } from "../../src/nats/members.js"
import { isStandby } from "../../src/protocol/messages.js"
import { expectedAnswers, quantile, startLoad } from "../helpers/load.js"
import { type LocalCluster, startLocalCluster } from "../helpers/localCluster.js"
import { type CliProcess, eventually, IRIS_MODEL, irisRows, isAlive, startSupervisor } from "../helpers/processes.js"

let cluster: LocalCluster
let raw: NatsConnection
const running: Array<CliProcess> = []

beforeAll(async () => {
  cluster = await startLocalCluster()
  raw = await natsConnect({ servers: [...cluster.urls] })
  // start attempts that elect no meta leader are thrown away and tried again (test/helpers/localCluster.ts)
}, 180_000)

afterAll(async () => {
  for (const p of running) await p.stop()
  await raw?.close()
  await cluster?.stop()
})

/** Starts a supervisor attached to node `node` (listed first), the other nodes after it. */
const superviseOn = async (node: number, config: Record<string, unknown>) => {
  const servers = [cluster.urls[node]!, ...cluster.urls.filter((_, i) => i !== node)]
  const p = await startSupervisor(servers.join(","), config)
  running.push(p)
  return p
}

const replicasOf = async (stream: string) =>
  (await (await jetstreamManager(raw)).streams.info(stream)).config.num_replicas

describe("replicated registry", () => {
  it("creates the buckets with registry.replicas, and raises a bucket made with fewer", async () => {
    await new Kvm(raw).create("raised_models", { history: 10, replicas: 1 })
    expect(await replicasOf("KV_raised_models")).toBe(1)
    await superviseOn(0, { prefix: "raised", registry: { replicas: 3 }, models: [{ name: "iris", path: IRIS_MODEL }] })
    for (const stream of ["KV_raised_models", "OBJ_raised_artifacts", "KV_raised_supervisors"]) {
      expect({ stream, replicas: await replicasOf(stream) }).toEqual({ stream, replicas: 3 })
    }
  })

  it("defaults to 3 replicas on a cluster of 3 servers", async () => {
    await superviseOn(1, { prefix: "auto", models: [{ name: "iris", path: IRIS_MODEL }] })
    expect(await replicasOf("KV_auto_models")).toBe(3)
    expect(await replicasOf("OBJ_auto_artifacts")).toBe(3)
  })
})

describe("membership", () => {
  it("status waits for every announced supervisor, and one that vanishes drops out", async () => {
    const config = { prefix: "members", models: [{ name: "iris", path: IRIS_MODEL }] }
    const [a, b] = [await superviseOn(0, config), await superviseOn(2, config)]
    const client = await connect({ servers: [...cluster.urls], prefix: "members" })
    try {
      // read as the client reads it, by direct gets: kv.keys() runs a consumer, which on a 3-node
      // cluster can hang for good (one did: the test timed out instead of seeing the entry expire)
      const announced = async () =>
        [
          ...(await Effect.runPromise(
            bindMembers(raw, "members").pipe(Effect.flatMap((kv) => memberIds(raw, kv, "members")))
          ))
        ].sort()
      const started = performance.now()
      const statuses = await client.status()
      console.log(`status of 2 supervisors on a 3-node cluster: ${(performance.now() - started).toFixed(1)} ms`)
      expect(statuses.map((s) => s.supervisor.id).sort()).toEqual(await announced())
      expect(statuses).toHaveLength(2)
      const [gone] = statuses
      const victim = gone!.supervisor.pid === a.pid ? a : b
      victim.child.kill("SIGKILL")
      const killedAt = performance.now()
      await eventually(
        async () => ((await announced()).includes(gone!.supervisor.id) ? undefined : true),
        20_000,
        "the killed supervisor to drop out of the members bucket"
      )
      console.log(
        `a SIGKILLed supervisor dropped out of membership after ${Math.round(performance.now() - killedAt)} ms`
      )
      expect((await client.status()).map((s) => s.supervisor.id)).toEqual(await announced())
    } finally {
      await client.close()
    }
  })
})

describe("losing a node under load", () => {
  it("the supervisor's actors reconnect without a restart and the client loses no request", async () => {
    await superviseOn(1, { prefix: "lossy", models: [{ name: "iris", path: IRIS_MODEL, replicas: 2 }] })
    const servers = [cluster.urls[1]!, cluster.urls[0]!, cluster.urls[2]!]
    const client: Client = await connect({ servers, prefix: "lossy" })
    try {
      const rows = (await irisRows()).slice(0, 20)
      const expected = await expectedAnswers(client, "iris", rows)
      // the replicas (a standby, with no model, is not restarted either, but may still be starting here)
      const replicasNow = async () => (await client.status()).flatMap((s) => s.actors).filter((a) => !isStandby(a))
      const before = await replicasNow()
      const load = startLoad(client, "iris", rows, expected, 8)
      await eventually(async () => (load.summary.requests > 300 ? true : undefined), 20_000, "load to run")
      await cluster.kill(1)
      const killedAt = performance.now()
      const servedAt = load.summary.requests
      await eventually(
        async () => (load.summary.requests > servedAt + 500 ? true : undefined),
        30_000,
        "requests to flow again"
      )
      console.log(`node lost: requests flowing again after ${Math.round(performance.now() - killedAt)} ms`)
      const summary = await load.stop()
      console.log(
        `node lost under load: ${summary.requests} requests, ${summary.failures.length} failures, p99.9 ${Math.round(quantile(summary.latencies, 0.999))} ms, max ${Math.round(summary.worstMs)} ms`
      )
      expect(summary.failures).toEqual([])
      expect(summary.wrongAnswers).toBe(0)
      const after = await replicasNow()
      expect(after.map((a) => [a.id, a.pid, a.loads, a.restarts])).toEqual(before.map((a) => [a.id, a.pid, 1, 0]))
      for (const a of after) expect(isAlive(a.pid!)).toBe(true)
    } finally {
      await client.close()
      await cluster.restart(1)
    }
  })
})
