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
import { CLI, type CliProcess, eventually, ROOT, spawnProcess } from "./processes.js"

/** A node has joined when it logs the JetStream meta leader (itself or another). */
const META_LEADER = /JetStream cluster new metadata leader|Self is new JetStream cluster metadata leader/
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
  const network = await createNetwork(topology)
  const stores = await mkdtemp(join(tmpdir(), `modelbus-cluster-${process.pid}-`))
  const nodes = new Map<string, CliProcess>()
  const supervisors = new Map<string, CliProcess>()
  let agent: AgentHandle | undefined

  const launchNode = async (node: string) => {
    const storeDir = join(stores, node)
    await mkdir(storeDir, { recursive: true })
    const args = network.exec(hostOfNode(topology, node), "nats-server", ["-c", join(DEPLOY, topology.natsConfig)])
    const started = spawnProcess("ip", args, natsEnvironment(topology, addressOf, node, storeDir))
    nodes.set(node, started)
    await started.waitForLine(META_LEADER, 30_000)
  }

  const monitor = async <A>(node: string, path: string): Promise<A> => {
    if (agent === undefined) throw new Error("the client agent is not running")
    const url = `http://${addressOf(node)}:${topology.ports.monitor}${path}`
    return (await agent.call("monitor", { url })) as A
  }

  // Orderly first (the agent and the supervisors drain, then the nodes stop); whatever is still running
  // after STOP_GRACE_MS is SIGKILLed with its namespace by network.remove().
  const stop = async () => {
    if (agent?.process.child.connected) agent.process.child.disconnect()
    await withinGrace(Promise.all([agent?.process.exited, ...[...supervisors.values()].map((s) => s.stop())]))
    await withinGrace(Promise.all([...nodes.values()].map((n) => n.stop())))
    await network.remove()
    await rm(stores, { recursive: true, force: true })
  }

  try {
    await Promise.all(nodeNames(topology).map(launchNode))
    const agentProcess = spawnProcess(
      "ip",
      network.exec("client", process.execPath, ["--import", "tsx", AGENT]),
      {},
      {
        ipc: true
      }
    )
    agent = agentHandle(agentProcess)
    const supervisorConfig = join(DEPLOY, topology.supervisorConfig)
    await Promise.all([
      agent.ready,
      ...topology.supervisors.map(async ({ name, host, node }) => {
        const servers = serversPreferring(topology, addressOf, node).join(",")
        const args = [CLI, "supervise", "--config", supervisorConfig, "--server", servers]
        const supervisor = spawnProcess("ip", network.exec(host, process.execPath, args))
        supervisors.set(name, supervisor)
        await supervisor.waitForLine(/modelbus ready/, 60_000)
      })
    ])
    await agent.call("connect", {
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
    const running = nodes.get(node)
    if (running === undefined) throw new Error(`no node ${node}`)
    running.child.kill("SIGKILL")
    await running.exited
  }

  const running = () => [...nodes].filter(([, p]) => p.child.exitCode === null && p.child.signalCode === null)

  /** `node` routes to every other running node and its /healthz answers ok. */
  const nodeHealthy = (node: string, timeoutMs: number) =>
    eventually(
      async () => {
        const routez = await monitor<{ num_routes: number }>(node, "/routez")
        if (routez.num_routes < running().length - 1) return undefined
        return (await monitor<{ status?: string }>(node, "/healthz")).status === "ok" ? true : undefined
      },
      timeoutMs,
      `${node} to route to every other running node and answer /healthz`
    )

  const startNode = async (node: string) => {
    await launchNode(node)
    await nodeHealthy(node, 60_000)
  }

  const healthy = async (timeoutMs = 60_000) => {
    await Promise.all(running().map(([node]) => nodeHealthy(node, timeoutMs)))
  }

  return {
    topology,
    network,
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
