// A 3-node NATS cluster with JetStream on loopback, for tests of what a cluster changes (replicated
// buckets, membership, reconnecting): free ports, a store per node, kill and restart a node by index.
import { type ChildProcess, spawn } from "node:child_process"
import { mkdtemp, rm } from "node:fs/promises"
import { createServer } from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { jetstreamManager } from "@nats-io/jetstream"
import { connect } from "@nats-io/transport-node"
import { eventually } from "./processes.js"

export interface LocalCluster {
  /** Client URLs, node 0 first. */
  readonly urls: ReadonlyArray<string>
  readonly pid: (node: number) => number
  /** SIGKILLs a node and waits until it is gone. */
  readonly kill: (node: number) => Promise<void>
  /** Starts a killed node again on its ports and store; resolves once it accepts clients. */
  readonly restart: (node: number) => Promise<void>
  readonly stop: () => Promise<void>
}

const freePort = () =>
  new Promise<number>((resolve, reject) => {
    const server = createServer()
    server.once("error", reject)
    server.listen(0, "127.0.0.1", () => {
      const address = server.address()
      server.close(() => resolve(typeof address === "object" && address !== null ? address.port : 0))
    })
  })

const exited = (child: ChildProcess) =>
  child.exitCode !== null || child.signalCode !== null
    ? Promise.resolve()
    : new Promise<void>((resolve) => child.once("exit", () => resolve()))

/** Starts the nodes and resolves once JetStream answers (a meta leader is elected). */
export const startLocalCluster = async (size = 3): Promise<LocalCluster> => {
  const store = await mkdtemp(join(tmpdir(), "modelbus-cluster-"))
  const ports = await Promise.all(
    Array.from({ length: size }, async () => ({ client: await freePort(), route: await freePort() }))
  )
  const routes = ports.map((p) => `nats://127.0.0.1:${p.route}`).join(",")
  const urls = ports.map((p) => `nats://127.0.0.1:${p.client}`)
  const nodes: Array<ChildProcess> = []
  const launch = async (i: number) => {
    const args = [
      "-a",
      "127.0.0.1",
      "-p",
      String(ports[i]!.client),
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
    let log = ""
    await new Promise<void>((resolve, reject) => {
      child.stderr!.on("data", (chunk: Buffer) => {
        log += chunk.toString()
        if (log.includes("Listening for client connections")) resolve()
      })
      child.once("exit", (code) => reject(new Error(`nats-server n${i + 1} exited (${code}):\n${log}`)))
    })
    child.stderr!.resume()
    nodes[i] = child
  }
  await Promise.all(ports.map((_, i) => launch(i)))
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
  return {
    urls,
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
