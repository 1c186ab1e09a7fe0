// A 3-node NATS cluster with JetStream on loopback, for tests of what a cluster changes (replicated
// buckets, membership, reconnecting): free ports, a store per node, kill and restart a node by index.
import { type ChildProcess, spawn } from "node:child_process"
import { mkdtemp, rm } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { jetstreamManager } from "@nats-io/jetstream"
import { connect } from "@nats-io/transport-node"
import { freePorts } from "./ports.js"
import { eventually, within } from "./processes.js"

export interface LocalCluster {
  /** Client URLs, node 0 first. */
  readonly urls: ReadonlyArray<string>
  /** HTTP monitoring URLs (`/jsz`, `/varz`, …), node 0 first. */
  readonly monitorUrls: ReadonlyArray<string>
  /** The node that is JetStream's meta leader now (from a live node's `/jsz`), if one is elected. */
  readonly metaLeader: () => Promise<number | undefined>
  readonly pid: (node: number) => number
  /** SIGKILLs a node and waits until it is gone. */
  readonly kill: (node: number) => Promise<void>
  /** Starts a killed node again on its ports and store; resolves once it accepts clients. */
  readonly restart: (node: number) => Promise<void>
  /**
   * Resolves once every JetStream stream has a leader and each of its other replicas is current with no
   * lag, as the stream's leader reports: a restarted node has caught up. Kill a leader before that and
   * nats-server 2.9 may elect the node still catching up, which then leads without the writes it missed.
   */
  readonly caughtUp: () => Promise<void>
  readonly stop: () => Promise<void>
}

/** A free port can be taken by another program (an outgoing connection's ephemeral port) before a node binds it. */
class PortTaken extends Error {}

/**
 * Start attempts, each on fresh ports and stores: when a node finds its port taken, or when the nodes have
 * not elected a JetStream meta leader and routed to one another within the attempt's bound (about 1 s
 * on loopback; Debian's nats-server 2.9 has been seen electing none while its routes kept closing as
 * "Duplicate Route"). The bound grows each time in case the machine is only slow.
 */
const FORMATION_BOUNDS_MS = [20_000, 30_000, 40_000] as const

const exited = (child: ChildProcess) =>
  child.exitCode !== null || child.signalCode !== null
    ? Promise.resolve()
    : new Promise<void>((resolve) => child.once("exit", () => resolve()))

interface Ports {
  readonly client: number
  readonly route: number
  readonly monitor: number
}

const monitorJson = async <A>(port: number, path: string): Promise<A> =>
  (await (await fetch(`http://127.0.0.1:${port}${path}`, { signal: AbortSignal.timeout(2_000) })).json()) as A

/** Every node routes to all others and answers /healthz ok (JetStream current with an elected meta leader). */
const formed = async (ports: ReadonlyArray<Ports>): Promise<true | undefined> => {
  for (const { monitor } of ports) {
    const routez = await monitorJson<{ num_routes?: number }>(monitor, "/routez")
    if ((routez.num_routes ?? 0) < ports.length - 1) return undefined
    if ((await monitorJson<{ status?: string }>(monitor, "/healthz")).status !== "ok") return undefined
  }
  return true
}

const tail = (log: string, n: number) =>
  log
    .trimEnd()
    .split("\n")
    .slice(-n)
    .map((line) => `    ${line}`)
    .join("\n")

/** Starts the nodes and resolves once the cluster has formed: every node routed, a meta leader elected. */
export const startLocalCluster = async (size = 3): Promise<LocalCluster> => {
  let store = ""
  let ports: Array<Ports> = []
  const nodes: Array<ChildProcess> = []
  const logs: Array<string> = []
  const launch = async (i: number) => {
    const routes = ports.map((p) => `nats://127.0.0.1:${p.route}`).join(",")
    const args = [
      "-a",
      "127.0.0.1",
      "-p",
      String(ports[i]!.client),
      "-m",
      String(ports[i]!.monitor),
      "-n",
      `n${i + 1}`,
      "--cluster_name",
      "modelbus-test"
    ]
    args.push(
      "-cluster",
      `nats://127.0.0.1:${ports[i]!.route}`,
      "-routes",
      routes,
      "-js",
      "-sd",
      join(store, `n${i + 1}`)
    )
    const child = spawn("nats-server", args, { stdio: ["ignore", "ignore", "pipe"] })
    nodes[i] = child
    logs[i] = ""
    child.stderr!.on("data", (chunk: Buffer) => {
      logs[i] += chunk.toString()
    })
    await new Promise<void>((resolve, reject) => {
      const listening = () => {
        if (logs[i]!.includes("Listening for client connections")) {
          child.stderr!.off("data", listening)
          resolve()
        }
      }
      child.stderr!.on("data", listening)
      child.once("exit", (code) => {
        const message = `nats-server n${i + 1} exited (${code}):\n${logs[i]}`
        reject(logs[i]!.includes("address already in use") ? new PortTaken(message) : new Error(message))
      })
    })
  }
  const discard = async () => {
    await Promise.all(
      nodes.map(async (node) => {
        node.kill("SIGKILL")
        await exited(node)
      })
    )
    await rm(store, { recursive: true, force: true })
  }
  for (let attempt = 1; ; attempt++) {
    const boundMs = FORMATION_BOUNDS_MS[attempt - 1]!
    const last = attempt === FORMATION_BOUNDS_MS.length
    store = await mkdtemp(join(tmpdir(), "modelbus-cluster-"))
    const picked = await freePorts(3 * size)
    ports = Array.from({ length: size }, (_, i) => ({
      client: picked[3 * i]!,
      route: picked[3 * i + 1]!,
      monitor: picked[3 * i + 2]!
    }))
    const started = await Promise.allSettled(ports.map((_, i) => launch(i)))
    const failed = started.flatMap((r) => (r.status === "rejected" ? [r.reason as unknown] : []))
    let why: string | undefined
    if (failed.length > 0) {
      if (!failed.every((e) => e instanceof PortTaken)) {
        await discard()
        throw failed[0]
      }
      why = `a port was taken: ${(failed[0] as Error).message.split("\n")[0]}`
    } else {
      const result = await within(() => formed(ports), boundMs, "the cluster to form").catch((e: unknown) => e)
      if (result === true) {
        if (attempt > 1)
          console.log(`the loopback cluster formed on start attempt ${attempt} of ${FORMATION_BOUNDS_MS.length}`)
        break
      }
      why = `${String(result)}\n${logs.map((log, i) => `n${i + 1}, last lines:\n${tail(log, 6)}`).join("\n")}`
    }
    console.log(
      `loopback cluster start attempt ${attempt} of ${FORMATION_BOUNDS_MS.length} failed; ${last ? "giving up" : "starting again on fresh ports and stores"}: ${why}`
    )
    await discard()
    if (last)
      throw new Error(`the loopback cluster formed on none of ${FORMATION_BOUNDS_MS.length} start attempts: ${why}`)
  }
  const urls = ports.map((p) => `nats://127.0.0.1:${p.client}`)
  const ready = async () => {
    const nc = await connect({ servers: urls[0]! })
    try {
      await eventually(
        async () =>
          (await (await jetstreamManager(nc)).getAccountInfo().catch(() => undefined)) === undefined ? undefined : true,
        30_000,
        "the cluster's JetStream to answer"
      )
    } finally {
      await nc.close()
    }
  }
  await ready()
  const kill = async (i: number) => {
    const node = nodes[i]!
    node.kill("SIGKILL")
    await exited(node)
  }
  const monitorUrls = ports.map((p) => `http://127.0.0.1:${p.monitor}`)
  const metaLeader = async () => {
    for (const [i, node] of nodes.entries()) {
      if (node.exitCode !== null || node.signalCode !== null) continue
      const jsz = (await fetch(`${monitorUrls[i]}/jsz`)
        .then((r) => r.json())
        .catch(() => undefined)) as { meta_cluster?: { leader?: string } } | undefined
      const leader = jsz?.meta_cluster?.leader
      if (leader !== undefined && leader !== "") return Number(leader.replace(/^n/, "")) - 1
    }
    return undefined
  }
  const streamsCaughtUp = async (): Promise<true | undefined> => {
    const nc = await connect({ servers: [...urls] })
    try {
      const jsm = await jetstreamManager(nc, { timeout: 2_000 })
      for await (const info of jsm.streams.list()) {
        const others = info.config.num_replicas - 1
        const replicas = info.cluster?.replicas ?? []
        if (info.cluster?.leader === undefined) return undefined
        if (replicas.length < others) return undefined
        if (replicas.some((r) => r.offline === true || !r.current || (r.lag ?? 0) > 0)) return undefined
      }
      return true
    } finally {
      await nc.close()
    }
  }
  return {
    urls,
    monitorUrls,
    metaLeader,
    caughtUp: async () => {
      await eventually(streamsCaughtUp, 60_000, "every stream's replicas to catch up with its leader")
    },
    pid: (i) => nodes[i]!.pid!,
    kill,
    restart: (i) => launch(i),
    stop: async () => {
      await Promise.all(
        nodes.map(async (node) => {
          node.kill("SIGTERM")
          await exited(node)
        })
      )
      await rm(store, { recursive: true, force: true })
    }
  }
}
