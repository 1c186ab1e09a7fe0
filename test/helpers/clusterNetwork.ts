// Hosts as Linux network namespaces: a "switch" namespace holding a bridge, one namespace per host joined
// to it by a veth pair, addresses that exist only inside them; cutting and healing a host's link; cleanup.
import { execFile } from "node:child_process"
import { promisify } from "node:util"
import type { Topology } from "./clusterTopology.js"
import { isAlive } from "./processes.js"

const run = promisify(execFile)
const ip = (...args: ReadonlyArray<string>) => run("ip", args)

/** Every namespace of a run is named `mb<pid>-…` after the test process that made it. */
const PREFIX = "mb"
export const namespaceOf = (pid: number, name: string) => `${PREFIX}${pid}-${name}`
const OWNER = new RegExp(`^${PREFIX}(\\d+)-`)

/** The switch's end of a host's veth pair (the host's end is eth0 in the host's namespace). */
const switchPort = (host: string) => `v-${host}`.slice(0, 15)

export interface Network {
  /** The namespace of a host of the topology. */
  readonly namespaceOf: (host: string) => string
  /** The `ip netns exec` prefix running a command on `host`, with its own hostname (a UTS namespace). */
  readonly exec: (host: string, command: string, args: ReadonlyArray<string>) => ReadonlyArray<string>
  /** Takes the switch's port of `host` down: its packets are dropped, no TCP reset is sent. */
  readonly cut: (host: string) => Promise<void>
  readonly heal: (host: string) => Promise<void>
  /** Kills what still runs inside the namespaces and deletes them. */
  readonly remove: () => Promise<void>
}

const namespaces = async (): Promise<ReadonlyArray<string>> => {
  const { stdout } = await ip("netns", "list")
  return stdout
    .split("\n")
    .map((line) => line.split(" ")[0] ?? "")
    .filter((name) => name !== "")
}

/** Kills every process left in a namespace (by pid, from `ip netns pids`) and deletes it. */
export const removeNamespace = async (namespace: string) => {
  const { stdout } = await ip("netns", "pids", namespace).catch(() => ({ stdout: "" }))
  for (const pid of stdout.split("\n").filter((p) => p !== "")) {
    try {
      process.kill(Number(pid), "SIGKILL")
    } catch {}
  }
  await ip("netns", "del", namespace).catch(() => undefined)
}

/** Removes the namespaces of earlier runs whose test process is gone (a run killed before its cleanup). */
export const removeStaleNetworks = async (): Promise<ReadonlyArray<string>> => {
  const stale = (await namespaces()).filter((name) => {
    const owner = OWNER.exec(name)
    return owner !== null && Number(owner[1]) !== process.pid && !isAlive(Number(owner[1]))
  })
  for (const name of stale) await removeNamespace(name)
  return stale
}

/** Creates the switch and one namespace per host of the topology, each at its address on the subnet. */
export const createNetwork = async (topology: Topology, pid = process.pid): Promise<Network> => {
  const prefixLength = topology.subnet.split("/")[1] ?? "24"
  const switchNs = namespaceOf(pid, "switch")
  const hostNs = new Map(topology.hosts.map((h) => [h.name, namespaceOf(pid, h.name)]))
  const nsOf = (host: string) => {
    const ns = hostNs.get(host)
    if (ns === undefined) throw new Error(`no host ${host} in deploy/topology.json`)
    return ns
  }
  const created = [switchNs, ...hostNs.values()]
  const remove = async () => {
    for (const ns of [...created].reverse()) await removeNamespace(ns)
  }
  try {
    await ip("netns", "add", switchNs)
    await ip("-n", switchNs, "link", "add", "br0", "type", "bridge")
    await ip("-n", switchNs, "link", "set", "br0", "up")
    for (const host of topology.hosts) {
      const ns = nsOf(host.name)
      await ip("netns", "add", ns)
      await ip(
        "-n",
        switchNs,
        "link",
        "add",
        switchPort(host.name),
        "type",
        "veth",
        "peer",
        "name",
        "eth0",
        "netns",
        ns
      )
      await ip("-n", switchNs, "link", "set", switchPort(host.name), "master", "br0", "up")
      await ip("-n", ns, "addr", "add", `${host.address}/${prefixLength}`, "dev", "eth0")
      await ip("-n", ns, "link", "set", "eth0", "up")
      await ip("-n", ns, "link", "set", "lo", "up")
      if (topology.nodes.some((node) => node.host === host.name))
        for (const [key, value] of Object.entries(topology.sysctls))
          await ip("netns", "exec", ns, "sysctl", "-qw", `${key}=${value}`)
    }
  } catch (error) {
    await remove()
    throw error
  }
  return {
    namespaceOf: nsOf,
    exec: (host, command, args) => [
      "netns",
      "exec",
      nsOf(host),
      "unshare",
      "--uts",
      "sh",
      "-c",
      'hostname "$1" && shift && exec "$@"',
      "sh",
      host,
      command,
      ...args
    ],
    cut: async (host) => void (await ip("-n", switchNs, "link", "set", switchPort(host), "down")),
    heal: async (host) => void (await ip("-n", switchNs, "link", "set", switchPort(host), "up")),
    remove
  }
}
