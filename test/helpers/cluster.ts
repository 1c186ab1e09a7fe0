// The cluster in a box for integration tests: deploy/topology.json run on network namespaces — a NATS
// node and a supervisor per host (deploy/'s config files), a client agent in the client host; node loss.
import { mkdir, mkdtemp, rm } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { type AgentHandle, agentHandle } from "./clusterAgentProtocol.js"
import { createNetwork, type Network, removeStaleNetworks } from "./clusterNetwork.js"
import {
  type AddressOf,
  DEPLOY,
  hostOfNode,
  natsEnvironment,
  nodeNames,
  readTopology,
  serversPreferring,
  type Topology
} from "./clusterTopology.js"
import { CLI, type CliProcess, eventually, ROOT, spawnProcess, within } from "./processes.js"

/** A node has joined when it logs the JetStream meta leader (itself or another). */
const META_LEADER = /JetStream cluster new metadata leader|Self is new JetStream cluster metadata leader/
/**
 * How long each start attempt gives fresh nodes to elect a meta leader and route to one another (they take
 * about 2 s on 2 busy cores). Debian's nats-server 2.9 has been seen electing none for 30 s while its
 * routes kept closing as "Duplicate Route": such a start is thrown away and tried again on fresh
 * namespaces and stores, the bound longer each time in case the machine is only slow.
 */
const FORMATION_BOUNDS_MS = [20_000, 30_000, 40_000] as const
const AGENT = join(ROOT, "test/helpers/clusterAgent.ts")
const STOP_GRACE_MS = 20_000

const withinGrace = (stopped: Promise<unknown>) =>
  new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, STOP_GRACE_MS)
    void stopped.finally(() => {
      clearTimeout(timer)
      resolve()
    })
  })

const count = (text: string, pattern: RegExp) => text.match(pattern)?.length ?? 0
const routeCloses = (output: string) => count(output, /Router? connection closed/g)
const duplicateRoutes = (output: string) => count(output, /closed: Duplicate Route/g)
const lastLines = (output: string, n: number) =>
  output
    .trimEnd()
    .split("\n")
    .slice(-n)
    .map((line) => `    ${line}`)
    .join("\n")

export interface Cluster {
  readonly topology: Topology
  readonly network: Network
  /** A node's address inside the namespaces (its host's). */
  readonly addressOf: AddressOf
  /** The running process of each NATS node (replaced by `startNode`). */
  readonly nodes: Map<string, CliProcess>
  readonly supervisors: ReadonlyMap<string, CliProcess>
  /** The client agent: every request to the cluster comes from the client host through it. */
  readonly agent: AgentHandle
  /** GETs `path` from a node's monitoring port (from the client host). */
  readonly monitor: <A>(node: string, path: string) => Promise<A>
  /** Client URLs with `node` first. */
  readonly serversPreferring: (node: string) => ReadonlyArray<string>
  /** SIGKILLs a node and waits for it to exit. */
  readonly killNode: (node: string) => Promise<void>
  /** Starts a node again on its store; resolves once it routes to every other node and its JetStream is current. */
  readonly startNode: (node: string) => Promise<void>
  /** Resolves once every running node routes to the others and answers /healthz ok (JetStream current). */
  readonly healthy: (timeoutMs?: number) => Promise<void>
  readonly stop: () => Promise<void>
}

export interface ClusterOptions {
  /** One modelbus client in the agent per entry: its name and the node listed first in its servers. */
  readonly clients: ReadonlyArray<{ readonly name: string; readonly node: string }>
}

export const startCluster = async (options: ClusterOptions): Promise<Cluster> => {
  await removeStaleNetworks()
  const topology = readTopology()
  const addressByHost = new Map(topology.hosts.map((h) => [h.name, h.address]))
  const addressOf: AddressOf = (node) => addressByHost.get(hostOfNode(topology, node)) ?? node
  const nodes = new Map<string, CliProcess>()
  const supervisors = new Map<string, CliProcess>()
  // One start attempt's namespaces, stores and client agent (replaced when an attempt is thrown away).
  let network: Network | undefined
  let stores: string | undefined
  let agent: AgentHandle | undefined

  const launchNode = (node: string) => {
    if (network === undefined || stores === undefined) throw new Error("the cluster's network is not up")
    const storeDir = join(stores, node)
    const args = network.exec(hostOfNode(topology, node), "nats-server", ["-c", join(DEPLOY, topology.natsConfig)])
    return mkdir(storeDir, { recursive: true }).then(() => {
      const started = spawnProcess("ip", args, natsEnvironment(topology, addressOf, node, storeDir))
      nodes.set(node, started)
      return started
    })
  }

  const monitor = async <A>(node: string, path: string): Promise<A> => {
    if (agent === undefined) throw new Error("the client agent is not running")
    const url = `http://${addressOf(node)}:${topology.ports.monitor}${path}`
    return (await agent.call("monitor", { url })) as A
  }

  const running = () => [...nodes].filter(([, p]) => p.child.exitCode === null && p.child.signalCode === null)

  /** `node` routes to every other running node and its /healthz answers ok (JetStream current with the meta leader). */
  const nodeHealthy = (node: string, timeoutMs: number, wait: typeof within = eventually) =>
    wait(
      async () => {
        const routez = await monitor<{ num_routes: number }>(node, "/routez")
        if (routez.num_routes < running().length - 1) return undefined
        return (await monitor<{ status?: string }>(node, "/healthz")).status === "ok" ? true : undefined
      },
      timeoutMs,
      `${node} to route to every other running node and answer /healthz`
    )

  /** Throws away one start attempt: the agent, the nodes and the namespaces (SIGKILL), and the stores. */
  const discardAttempt = async () => {
    await network?.remove()
    await Promise.all([...nodes.values(), ...(agent === undefined ? [] : [agent.process])].map((p) => p.exited))
    nodes.clear()
    agent = undefined
    if (stores !== undefined) await rm(stores, { recursive: true, force: true })
  }

  // Orderly first (the agent and the supervisors drain, then the nodes stop); whatever is still running
  // after STOP_GRACE_MS is SIGKILLed with its namespace by network.remove().
  const stop = async () => {
    if (agent?.process.child.connected) agent.process.child.disconnect()
    await withinGrace(Promise.all([agent?.process.exited, ...[...supervisors.values()].map((s) => s.stop())]))
    await withinGrace(Promise.all([...nodes.values()].map((n) => n.stop())))
    await network?.remove()
    if (stores !== undefined) await rm(stores, { recursive: true, force: true })
  }

  /**
   * One attempt: fresh namespaces and stores, the client agent, every node; resolves once every node logged
   * the meta leader, routes to the others and answers /healthz within `boundMs`, else says why it did not.
   */
  const formCluster = async (boundMs: number): Promise<string | undefined> => {
    network = await createNetwork(topology)
    stores = await mkdtemp(join(tmpdir(), `modelbus-cluster-${process.pid}-`))
    agent = agentHandle(
      spawnProcess("ip", network.exec("client", process.execPath, ["--import", "tsx", AGENT]), {}, { ipc: true })
    )
    await agent.ready
    const started = performance.now()
    const launched = await Promise.all(nodeNames(topology).map(launchNode))
    const formed = await Promise.allSettled(
      nodeNames(topology).map(async (node, i) => {
        await launched[i]!.waitForLine(META_LEADER, boundMs, true)
        await nodeHealthy(node, Math.max(1, boundMs - (performance.now() - started)), within)
      })
    )
    if (formed.every((f) => f.status === "fulfilled")) return undefined
    return nodeNames(topology)
      .map((node, i) => {
        const output = launched[i]!.output()
        const verdict = !META_LEADER.test(output)
          ? "no meta leader"
          : formed[i]!.status === "rejected"
            ? "not routed to every node with /healthz ok"
            : "formed"
        return `${node}: ${verdict}, ${routeCloses(output)} route(s) closed (${duplicateRoutes(output)} as Duplicate Route); last lines:\n${lastLines(output, 6)}`
      })
      .join("\n")
  }

  try {
    for (let attempt = 1; ; attempt++) {
      const boundMs = FORMATION_BOUNDS_MS[attempt - 1]!
      const why = await formCluster(boundMs)
      if (why === undefined) {
        if (attempt > 1) console.log(`the cluster formed on start attempt ${attempt} of ${FORMATION_BOUNDS_MS.length}`)
        break
      }
      const last = attempt === FORMATION_BOUNDS_MS.length
      console.log(
        `cluster start attempt ${attempt} of ${FORMATION_BOUNDS_MS.length}: not formed within ${boundMs} ms; ${last ? "giving up" : "starting again on fresh namespaces and stores"}\n${why}`
      )
      await discardAttempt()
      if (last) throw new Error(`the cluster formed on none of ${FORMATION_BOUNDS_MS.length} start attempts:\n${why}`)
    }
    const current = agent!
    const supervisorConfig = join(DEPLOY, topology.supervisorConfig)
    await Promise.all(
      topology.supervisors.map(async ({ name, host, node }) => {
        const servers = serversPreferring(topology, addressOf, node).join(",")
        const args = [CLI, "supervise", "--config", supervisorConfig, "--server", servers]
        const supervisor = spawnProcess("ip", network!.exec(host, process.execPath, args))
        supervisors.set(name, supervisor)
        await supervisor.waitForLine(/modelbus ready/, 60_000)
      })
    )
    await current.call("connect", {
      clients: options.clients.map(({ name, node }) => ({
        name,
        servers: serversPreferring(topology, addressOf, node)
      }))
    })
  } catch (error) {
    await stop()
    throw error
  }

  const killNode = async (node: string) => {
    const natsNode = nodes.get(node)
    if (natsNode === undefined) throw new Error(`no node ${node}`)
    natsNode.child.kill("SIGKILL")
    await natsNode.exited
  }

  const startNode = async (node: string) => {
    await launchNode(node)
    await nodeHealthy(node, 60_000)
  }

  const healthy = async (timeoutMs = 60_000) => {
    await Promise.all(running().map(([node]) => nodeHealthy(node, timeoutMs)))
  }

  return {
    topology,
    network: network!,
    addressOf,
    nodes,
    supervisors,
    agent: agent!,
    monitor,
    serversPreferring: (node) => serversPreferring(topology, addressOf, node),
    killNode,
    startNode,
    healthy,
    stop
  }
}
