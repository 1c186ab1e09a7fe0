// The cluster in a box (deploy/topology.json on network namespaces): 3 hosts, each a NATS node and a
// supervisor; a client host. Every host serves, a node dies, a host is cut off, updates with a node down.
import { copyFile, mkdtemp, readFile, rm, writeFile } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, afterEach, beforeAll, expect, it } from "vitest"
import { isStandby } from "../../src/protocol/messages.js"
import { type Cluster, startCluster } from "../helpers/cluster.js"
import {
  actorsOn,
  answeredSinceMark,
  connectionNames,
  loadProgressed,
  loadTotals,
  localLastSeq,
  msSince,
  printFigures,
  routesTo,
  statusByHost
} from "../helpers/clusterProbes.js"
import { readTopology } from "../helpers/clusterTopology.js"
import { eventually, IRIS_MODEL } from "../helpers/processes.js"

const MODEL = "iris"
const STREAMS = ["KV_modelbus_models", "OBJ_modelbus_artifacts"] as const
const MEMBERSHIP_BUCKET = "modelbus_supervisors"
const SETOSA = [5.1, 3.5, 1.4, 0.2]
const topology = readTopology()
const NODES = topology.nodes.map((n) => n.name)
const CONCURRENCY_PER_CLIENT = 4

let cluster: Cluster

beforeAll(async () => {
  const started = performance.now()
  // One client per node, each listing its node first: the load enters the cluster everywhere.
  cluster = await startCluster({ clients: NODES.map((node) => ({ name: `via-${node}`, node })) })
  printFigures("startup", { ms: msSince(started), nodes: NODES.length, supervisors: cluster.supervisors.size })
  // start attempts that elect no meta leader are thrown away and tried again (test/helpers/cluster.ts)
}, 240_000)

afterAll(async () => {
  await cluster?.stop()
}, 60_000)

// A test that failed half-way leaves no load running, no link cut and no node down for the next one.
afterEach(async (context) => {
  if (cluster === undefined) return
  if (context.task.result?.state === "fail") {
    const tail = (text: string) => text.split("\n").slice(-25).join("\n")
    for (const [name, p] of [...cluster.nodes, ...cluster.supervisors])
      console.log(`---- ${name} (last lines)\n${tail(p.output())}`)
  }
  await cluster.agent.call("stopLoad", {})
  for (const { name } of topology.hosts) await cluster.network.heal(name)
  for (const node of NODES) {
    const running = cluster.nodes.get(node)
    if (running === undefined || running.child.exitCode !== null || running.child.signalCode !== null)
      await cluster.startNode(node)
  }
  await cluster.healthy()
}, 120_000)

/** The replicas of `host` once it answers status for all `count` of them. */
const replicasOf = (host: string, count: number) =>
  eventually(
    async () => {
      const actors = await actorsOn(cluster, host, MODEL)
      return actors.length === count ? actors : undefined
    },
    60_000,
    `${host} to answer status for its ${count} replicas`
  )

const addressOfHost = (host: string) => topology.hosts.find((h) => h.name === host)?.address ?? host
/**
 * Every supervisor's actors, once all of them answer status: after a node loss a supervisor whose
 * announcement lapsed while JetStream elected leaders is left out of a status gather for a while.
 */
const allActors = async () =>
  eventually(
    async () => {
      const byHost = await statusByHost(cluster)
      return byHost.size === topology.supervisors.length ? [...byHost.values()].flatMap((s) => s.actors) : undefined
    },
    30_000,
    "every supervisor to answer status"
  )

/** A copy of the Iris model with every weight halved: the same signature, other answers. */
const irisVariant = async (): Promise<string> => {
  const dir = await mkdtemp(join(tmpdir(), "modelbus-cluster-variant-"))
  await copyFile(join(IRIS_MODEL, "model.json"), join(dir, "model.json"))
  const weights = new Float32Array(new Uint8Array(await readFile(join(IRIS_MODEL, "weights.bin"))).buffer)
  await writeFile(join(dir, "weights.bin"), new Uint8Array(weights.map((w) => w * 0.5).buffer))
  return dir
}

it("keeps the registry's streams on 3 replicas", async () => {
  for (const stream of STREAMS) {
    const info = await cluster.agent.call("streamInfo", { servers: cluster.serversPreferring(NODES[0]!), stream })
    expect(info.numReplicas, stream).toBe(3)
    expect(
      info.replicas
        .map((r) => r.name)
        .concat(info.leader ?? [])
        .sort(),
      stream
    ).toEqual([...NODES].sort())
  }
})

it("attaches each supervisor and its actors to its own host's node", async () => {
  // status is a scatter-gather: right after start a supervisor's membership entry or reply can be late
  // for one call, so wait for a status that has every host (what is checked is where each is attached)
  const byHost = await eventually(
    async () => {
      const status = await statusByHost(cluster)
      return topology.supervisors.every(({ host }) => status.has(host)) ? status : undefined
    },
    30_000,
    "every host's supervisor to answer status"
  )
  for (const { host, node } of topology.supervisors) {
    const status = byHost.get(host)
    expect(status, `${host} answers status`).toBeDefined()
    const names = await connectionNames(cluster, node)
    expect(names).toContain(`modelbus-supervisor ${status!.supervisor.id}`)
    // a standby connects once its runtime is up: a starting one may not be connected yet
    const connected = status!.actors.filter((a) => !(isStandby(a) && a.state === "starting"))
    for (const actor of connected) expect(names).toContain(`modelbus-actor ${actor.id}`)
  }
})

it("announces every supervisor in the membership bucket", async () => {
  const expected = topology.supervisors.map((s) => ({ pid: cluster.supervisors.get(s.name)!.pid, host: s.host }))
  // a supervisor is ready before its first announcement is sure to be stored: one that JetStream refused
  // while the cluster was young is put again at the next refresh
  const announced = await eventually(
    async () => {
      const members = await cluster.agent.call("kvValues", {
        servers: cluster.serversPreferring(NODES[0]!),
        bucket: MEMBERSHIP_BUCKET
      })
      const all = Object.values(members) as ReadonlyArray<{ pid: number; host: string; models: unknown }>
      return all.length >= expected.length ? all : undefined
    },
    30_000,
    "every supervisor announced"
  )
  expect(announced.map((m) => ({ pid: m.pid, host: m.host }))).toEqual(expect.arrayContaining(expected))
  expect(announced).toHaveLength(expected.length)
})

it("serves from every host's replicas under load", async () => {
  await cluster.agent.call("startLoad", { model: MODEL, concurrencyPerClient: CONCURRENCY_PER_CLIENT })
  const started = performance.now()
  const byHost = await eventually(
    async () => {
      const status = await statusByHost(cluster)
      const everyReplicaServed = topology.supervisors.every(({ host }) => {
        const actors = status.get(host)?.actors.filter((a) => a.model === MODEL) ?? []
        return actors.length > 0 && actors.every((a) => a.served > 0)
      })
      return everyReplicaServed ? status : undefined
    },
    30_000,
    "every replica on every host to serve"
  )
  const load = loadTotals(await cluster.agent.call("stopLoad", {}))
  const servedByHost = Object.fromEntries(
    [...byHost].map(([host, s]) => [host, s.actors.reduce((n, a) => n + a.served, 0)])
  )
  printFigures("every host serves", { ...load, ms: msSince(started), servedByHost })
  expect(load.failures, load.failureSamples.join("\n")).toBe(0)
  expect(load.wrongAnswers).toBe(0)
  for (const { host } of topology.supervisors) expect(servedByHost[host], host).toBeGreaterThan(0)
}, 60_000)

it("answers status for every supervisor of the cluster", async () => {
  const samples: Array<number> = []
  for (let i = 0; i < 5; i++) {
    const { ms, statuses } = await cluster.agent.call("status", {})
    samples.push(ms)
    const pids = topology.supervisors.map((s) => cluster.supervisors.get(s.name)!.pid)
    expect(statuses.map((s) => s.supervisor.pid).sort()).toEqual([...pids].sort())
    expect(statuses.map((s) => s.supervisor.host).sort()).toEqual(topology.supervisors.map((s) => s.host).sort())
  }
  const sorted = [...samples].sort((a, b) => a - b)
  printFigures("status", { samplesMs: samples, medianMs: sorted[2], worstMs: sorted[4] })
})

it("rides out a SIGKILL of the node a supervisor is attached to, under load", async () => {
  const { host, node } = topology.supervisors[1]!
  const survivors = NODES.filter((n) => n !== node)
  const before = await actorsOn(cluster, host, MODEL)
  expect(before.length).toBeGreaterThan(0)
  const figures: Record<string, unknown> = { killed: node }

  try {
    await cluster.agent.call("startLoad", { model: MODEL, concurrencyPerClient: CONCURRENCY_PER_CLIENT })
    await loadProgressed(cluster, 50)
    const killedAt = performance.now()
    await cluster.killNode(node)
    await cluster.agent.call("mark", {})

    // The host's actors rejoin their queue group on another node, then answer requests again.
    figures.reconnectedMs = await eventually(
      async () => {
        const names = (await Promise.all(survivors.map((n) => connectionNames(cluster, n)))).flat()
        return before.every((a) => names.includes(`modelbus-actor ${a.id}`)) ? msSince(killedAt) : undefined
      },
      30_000,
      `${host}'s actors to connect to another node`
    )
    figures.servingAgainMs = await answeredSinceMark(
      cluster,
      before.map((a) => a.id)
    )
    // Every client goes on, the one whose node died included.
    await loadProgressed(cluster, 50, await cluster.agent.call("loadProgress", {}))
    const load = loadTotals(await cluster.agent.call("stopLoad", {}))
    Object.assign(figures, load)
    const after = await replicasOf(host, before.length)

    const restartedAt = performance.now()
    await cluster.startNode(node)
    figures.nodeRejoinMs = msSince(restartedAt)

    expect(load.failures, load.failureSamples.join("\n")).toBe(0)
    expect(load.wrongAnswers).toBe(0)
    expect(after.map((a) => [a.id, a.pid, a.loads, a.restarts, a.state])).toEqual(
      before.map((a) => [a.id, a.pid, 1, 0, "serving"])
    )
  } finally {
    printFigures("a NATS node SIGKILLed under load", figures)
  }
}, 120_000)

it("rides out a host cut off from the others, and its actors serve again when the link returns", async () => {
  const { host, node } = topology.supervisors[2]!
  const others = NODES.filter((n) => n !== node)
  const address = addressOfHost(host)
  const routed = async () => Promise.all(others.map((n) => routesTo(cluster, n, address)))
  // Right after the previous test restarted a node, JetStream may still be electing leaders: wait
  // until status shows this host's replicas serving.
  const before = await eventually(
    async () => {
      const actors = await actorsOn(cluster, host, MODEL)
      return actors.length > 0 && actors.every((a) => a.state === "serving") ? actors : undefined
    },
    30_000,
    `${host}'s replicas serving in status`
  )
  const figures: Record<string, unknown> = { cut: host }

  try {
    await cluster.agent.call("startLoad", { model: MODEL, concurrencyPerClient: CONCURRENCY_PER_CLIENT })
    await loadProgressed(cluster, 50)
    const cutAt = performance.now()
    const cutAtEpoch = Date.now()
    await cluster.network.cut(host)
    figures.routesDroppedMs = await eventually(
      async () => ((await routed()).some(Boolean) ? undefined : msSince(cutAt)),
      60_000,
      `the other nodes to drop their routes to ${host}`
    )
    // Requests keep succeeding: every client makes progress, the one attached to the cut node once it has moved.
    await loadProgressed(cluster, 50, await cluster.agent.call("loadProgress", {}), 60_000)
    figures.cutMs = msSince(cutAt)

    const healedAt = performance.now()
    await cluster.network.heal(host)
    await cluster.agent.call("mark", {})
    const back = Promise.all([
      eventually(
        async () => ((await routed()).every(Boolean) ? msSince(healedAt) : undefined),
        60_000,
        `the routes to ${host} to return`
      ),
      answeredSinceMark(
        cluster,
        before.map((a) => a.id)
      ),
      replicasOf(host, before.length).then(() => msSince(healedAt)),
      cluster.healthy().then(() => msSince(healedAt))
    ])
    ;[figures.routesBackMs, figures.servingAgainMs, figures.inStatusAgainMs, figures.jetStreamHealthyMs] = await back
    const loads = await cluster.agent.call("stopLoad", {})
    const load = loadTotals(loads)
    Object.assign(figures, load)
    // when each client's worst request was sent, from the cut (negative: before it)
    figures.worstSentAfterCutMs = Object.fromEntries(loads.map((l) => [l.client, l.worstStartedAt - cutAtEpoch]))
    const after = await replicasOf(host, before.length)

    expect(load.failures, load.failureSamples.join("\n")).toBe(0)
    expect(load.wrongAnswers).toBe(0)
    expect(after.map((a) => [a.id, a.pid, a.loads, a.restarts, a.state])).toEqual(
      before.map((a) => [a.id, a.pid, 1, 0, "serving"])
    )
    expect(after.reduce((n, a) => n + a.served, 0)).toBeGreaterThan(before.reduce((n, a) => n + a.served, 0))
  } finally {
    printFigures("a host's link cut under load, then healed", figures)
  }
}, 180_000)

it("updates and rolls back with one of three nodes down, and the node catches up when it returns", async () => {
  const node = NODES[0]!
  const survivors = NODES.filter((n) => n !== node)
  const via = `via-${survivors[0]}`
  const original = await cluster.agent.call("infer", { client: via, model: MODEL, rows: [SETOSA] })
  const seqBefore = await Promise.all(STREAMS.map((s) => localLastSeq(cluster, node, s)))
  const variant = await irisVariant()
  const figures: Record<string, unknown> = { down: node }

  try {
    const killedAt = performance.now()
    await cluster.killNode(node)
    // JetStream has elected a leader for the registry's and the membership's streams on the two survivors.
    figures.leadersMs = await eventually(
      async () => {
        const servers = cluster.serversPreferring(survivors[0]!).slice(0, 1)
        const streams = [...STREAMS, `KV_${MEMBERSHIP_BUCKET}`]
        const infos = await Promise.all(streams.map((stream) => cluster.agent.call("streamInfo", { servers, stream })))
        return infos.every((i) => i.leader !== undefined && i.leader !== node) ? msSince(killedAt) : undefined
      },
      30_000,
      "a leader for every registry stream on the surviving nodes"
    )
    await cluster.healthy()
    figures.survivorsHealthyMs = msSince(killedAt)

    const update = await cluster.agent.call("update", { client: via, model: MODEL, path: variant })
    Object.assign(figures, { updateMs: update.ms, updateRolloutMs: update.result.rolloutMs })
    const afterUpdate = (await allActors()).filter((a) => a.model === MODEL)
    const updated = await cluster.agent.call("infer", { client: via, model: MODEL, rows: [SETOSA] })
    const rollback = await cluster.agent.call("rollback", { client: via, model: MODEL })
    Object.assign(figures, { rollbackMs: rollback.ms, rollbackRolloutMs: rollback.result.rolloutMs })
    const afterRollback = (await allActors()).filter((a) => a.model === MODEL)
    const rolledBack = await cluster.agent.call("infer", { client: via, model: MODEL, rows: [SETOSA] })
    figures.replicas = afterRollback.length

    const restartedAt = performance.now()
    await cluster.startNode(node)
    figures.nodeRejoinMs = msSince(restartedAt)
    const caughtUp = await eventually(
      async () => {
        const seqs = await Promise.all(STREAMS.map((s) => Promise.all(NODES.map((n) => localLastSeq(cluster, n, s)))))
        return seqs.every((perNode) => perNode.every((seq) => seq !== undefined && seq === perNode[0]))
          ? seqs
          : undefined
      },
      30_000,
      `${node}'s copy of every registry stream to reach the others' last sequence`
    )
    Object.assign(figures, {
      catchUpMs: msSince(restartedAt),
      lastSeqBefore: Object.fromEntries(STREAMS.map((s, i) => [s, seqBefore[i]])),
      lastSeqAfter: Object.fromEntries(STREAMS.map((s, i) => [s, caughtUp[i]![0]]))
    })

    expect(update.result.pending).toEqual([])
    expect([...update.result.acked].sort()).toEqual(afterUpdate.map((a) => a.id).sort())
    // Each replica reports its new version to its supervisor before it acknowledges: status has it.
    for (const actor of afterUpdate) expect([actor.id, actor.version]).toEqual([actor.id, update.result.version])
    expect(updated.version).toBe(update.result.version)
    expect(updated.data).not.toEqual(original.data)

    expect(rollback.result.pending).toEqual([])
    expect([...rollback.result.acked].sort()).toEqual(afterRollback.map((a) => a.id).sort())
    for (const actor of afterRollback) expect([actor.id, actor.version]).toEqual([actor.id, rollback.result.version])
    expect(rolledBack).toEqual({ version: rollback.result.version, data: original.data })

    // The returning node had missed both versions: its copy moved past what it held before it died.
    for (const [i, seqs] of caughtUp.entries()) expect(seqs[0]!).toBeGreaterThan(seqBefore[i] ?? 0)
  } finally {
    printFigures("update and rollback with a node down", figures)
    await rm(variant, { recursive: true, force: true })
  }
}, 120_000)
