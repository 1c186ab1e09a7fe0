// A 3-node NATS cluster with JetStream on loopback, for tests of what a cluster changes (replicated
// buckets, membership, reconnecting): free ports, a store per node, kill and restart a node by index.
import { type ChildProcess, spawn } from "node:child_process"
import { mkdtemp, rm } from "node:fs/promises"
import { createServer, type Server } from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { jetstreamManager } from "@nats-io/jetstream"
import { connect } from "@nats-io/transport-node"
import { eventually } from "./processes.js"

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
  readonly stop: () => Promise<void>
}

/** `count` distinct free ports: every listener stays open until all are picked, so no port comes twice. */
const freePorts = async (count: number): Promise<Array<number>> => {
  const servers = await Promise.all(
    Array.from(
      { length: count },
      () =>
        new Promise<Server>((resolve, reject) => {
          const server = createServer()
          server.once("error", reject)
          server.listen(0, "127.0.0.1", () => resolve(server))
        })
    )
  )
  const ports = servers.map((server) => {
    const address = server.address()
    return typeof address === "object" && address !== null ? address.port : 0
  })
  await Promise.all(servers.map((server) => new Promise<void>((resolve) => server.close(() => resolve()))))
  return ports
}

/** A free port can be taken by another program (an outgoing connection's ephemeral port) before a node binds it. */
class PortTaken extends Error {}

/** Start attempts, each on fresh ports, when a node finds its port taken. */
const START_ATTEMPTS = 3

const exited = (child: ChildProcess) =>
  child.exitCode !== null || child.signalCode !== null
    ? Promise.resolve()
    : new Promise<void>((resolve) => child.once("exit", () => resolve()))

/** Starts the nodes and resolves once JetStream answers (a meta leader is elected). */
export const startLocalCluster = async (size = 3): Promise<LocalCluster> => {
  const store = await mkdtemp(join(tmpdir(), "modelbus-cluster-"))
  let ports: Array<{ client: number; route: number; monitor: number }> = []
  const nodes: Array<ChildProcess> = []
  const launch = async (i: number) => {
    const routes = ports.map((p) => `nats://127.0.0.1:${p.route}`).join(",")
    const args = [
      "-a",
      "127.0.0.1",
      "-p",
      String(ports[i]!.client),
      "-n",
      `n${i + 1}`,
      "-m",
      String(ports[i]!.monitor),
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
    let log = ""
    await new Promise<void>((resolve, reject) => {
      child.stderr!.on("data", (chunk: Buffer) => {
        log += chunk.toString()
        if (log.includes("Listening for client connections")) resolve()
      })
      child.once("exit", (code) => {
        const message = `nats-server n${i + 1} exited (${code}):\n${log}`
        reject(log.includes("address already in use") ? new PortTaken(message) : new Error(message))
      })
    })
    child.stderr!.resume()
  }
  for (let attempt = 1; ; attempt++) {
    const picked = await freePorts(3 * size)
    ports = Array.from({ length: size }, (_, i) => ({
      client: picked[3 * i]!,
      route: picked[3 * i + 1]!,
      monitor: picked[3 * i + 2]!
    }))
    const started = await Promise.allSettled(ports.map((_, i) => launch(i)))
    const failed = started.flatMap((r) => (r.status === "rejected" ? [r.reason as unknown] : []))
    if (failed.length === 0) break
    await Promise.all(
      nodes.map(async (node) => {
        node.kill("SIGKILL")
        await exited(node)
      })
    )
    await Promise.all(ports.map((_, i) => rm(join(store, `n${i + 1}`), { recursive: true, force: true })))
    if (attempt >= START_ATTEMPTS || !failed.every((e) => e instanceof PortTaken)) throw failed[0]
  }
  const urls = ports.map((p) => `nats://127.0.0.1:${p.client}`)
  const ready = async () => {
    const nc = await connect({ servers: urls[0]! })
    try {
      await eventually(
        async () =>
          (await (await jetstreamManager(nc)).getAccountInfo().catch(() => undefined)) === undefined ? undefined : true,
        30_000,
        "the cluster's JetStream to elect a leader"
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
  return {
    urls,
    monitorUrls,
    metaLeader,
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
