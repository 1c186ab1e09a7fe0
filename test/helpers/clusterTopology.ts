// The cluster in a box as deploy/topology.json describes it (hosts, NATS nodes, which supervisor attaches
// to which node), and what each process gets from it: routes, server lists, a node's environment.
import { readFileSync } from "node:fs"
import { join } from "node:path"
import { ROOT } from "./processes.js"

export const DEPLOY = join(ROOT, "deploy")

export interface Topology {
  readonly cluster: string
  readonly ports: { readonly client: number; readonly cluster: number; readonly monitor: number }
  /** Paths relative to deploy/. */
  readonly natsConfig: string
  readonly supervisorConfig: string
  readonly subnet: string
  /** Kernel settings of every host running a node (network-namespaced sysctls; `sysctls:` of each compose node). */
  readonly sysctls: Readonly<Record<string, string>>
  readonly hosts: ReadonlyArray<{ readonly name: string; readonly address: string }>
  readonly nodes: ReadonlyArray<{ readonly name: string; readonly host: string }>
  readonly supervisors: ReadonlyArray<{ readonly name: string; readonly host: string; readonly node: string }>
}

export const readTopology = (): Topology => JSON.parse(readFileSync(join(DEPLOY, "topology.json"), "utf8")) as Topology

/** How one environment reaches a node: its address in the namespaces, its service name in docker-compose. */
export type AddressOf = (node: string) => string

export const nodeNames = (topology: Topology): ReadonlyArray<string> => topology.nodes.map((n) => n.name)

export const hostOfNode = (topology: Topology, node: string): string => {
  const found = topology.nodes.find((n) => n.name === node)
  if (found === undefined) throw new Error(`deploy/topology.json has no node ${node}`)
  return found.host
}

export const clientUrl = (topology: Topology, addressOf: AddressOf, node: string): string =>
  `nats://${addressOf(node)}:${topology.ports.client}`

/** The cluster routes of `node`: every other node's cluster port. */
export const routesOf = (topology: Topology, addressOf: AddressOf, node: string): ReadonlyArray<string> =>
  nodeNames(topology)
    .filter((other) => other !== node)
    .map((other) => `nats://${addressOf(other)}:${topology.ports.cluster}`)

/** The client URLs with `first` first, then the others in topology order (what `--server` gets). */
export const serversPreferring = (topology: Topology, addressOf: AddressOf, first: string): ReadonlyArray<string> =>
  [first, ...nodeNames(topology).filter((n) => n !== first)].map((n) => clientUrl(topology, addressOf, n))

/** The environment deploy/nats/cluster.conf reads. */
export const natsEnvironment = (
  topology: Topology,
  addressOf: AddressOf,
  node: string,
  storeDir: string
): Record<string, string> => {
  const routes = routesOf(topology, addressOf, node)
  if (routes.length !== 2) throw new Error(`deploy/nats/cluster.conf routes to 2 peers; ${node} has ${routes.length}`)
  return { NATS_SERVER_NAME: node, NATS_ROUTE_A: routes[0]!, NATS_ROUTE_B: routes[1]!, NATS_STORE_DIR: storeDir }
}
