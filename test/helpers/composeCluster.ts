// docker-compose.yml run for real by a test: a compose project of its own on free host ports, every
// service awaited healthy, a container SIGKILLed or stopped, and everything it made removed at the end.
import { readFileSync } from "node:fs"
import { join } from "node:path"
import { parse } from "yaml"
import { nodeNames, readTopology } from "./clusterTopology.js"
import { composeCommand, type Ran, run, tryRun } from "./docker.js"
import { freePorts } from "./ports.js"
import { eventually, ROOT } from "./processes.js"

const COMPOSE_FILE = join(ROOT, "docker-compose.yml")

/** The environment variable moving a node's published client port (docker-compose.yml: `${MODELBUS_NATS_1_PORT:-4222}`). */
export const portVariable = (node: string) => `MODELBUS_${node.toUpperCase().replace(/[^A-Z0-9]/g, "_")}_PORT`

/** The base images the compose file pulls (`image:`) and its Dockerfile builds on (`FROM`, stage names left out). */
export const baseImageTags = (): ReadonlyArray<string> => {
  const compose = parse(readFileSync(COMPOSE_FILE, "utf8"), { merge: true }) as {
    services: Record<string, { image?: string; build?: { context?: string; dockerfile?: string } }>
  }
  const tags = new Set<string>()
  for (const service of Object.values(compose.services)) {
    if (service.image !== undefined) tags.add(service.image)
    if (service.build !== undefined) {
      const dockerfile = join(ROOT, service.build.context ?? ".", service.build.dockerfile ?? "Dockerfile")
      const stages = new Set<string>()
      for (const line of readFileSync(dockerfile, "utf8").split("\n")) {
        const from = /^\s*FROM\s+(\S+)(?:\s+AS\s+(\S+))?/i.exec(line)
        if (from === null) continue
        if (!stages.has(from[1]!)) tags.add(from[1]!)
        if (from[2] !== undefined) stages.add(from[2])
      }
    }
  }
  return [...tags]
}

export interface ComposeCluster {
  /** The compose project: every container, volume, network and built image is named after it. */
  readonly project: string
  /** The host port each NATS node's client port is published on. */
  readonly ports: Readonly<Record<string, number>>
  /** Client URLs through the published ports, `node` first. */
  readonly serversPreferring: (node: string) => ReadonlyArray<string>
  /** Runs a compose command on this project. */
  readonly compose: (args: ReadonlyArray<string>, timeoutMs?: number) => Promise<Ran>
  readonly containerOf: (service: string) => Promise<string>
  /** Resolves once every service's container is running and healthy, with each one's first healthy time (ms from the call). */
  readonly healthy: (timeoutMs: number) => Promise<Record<string, number>>
  /** SIGKILLs a service's container (Docker's restart policy leaves it down) and waits for its exit. */
  readonly kill: (service: string) => Promise<void>
  /** `docker-compose stop`: resolves with each service's exit code and when it exited (ms after the stop began). */
  readonly stop: () => Promise<Record<string, { readonly exitCode: number; readonly ms: number }>>
  /** The last lines of every service's log. */
  readonly logs: () => Promise<string>
  /** `down -v` with the images built for the project: nothing of the project is left. */
  readonly down: () => Promise<void>
}

/** Up to this many `up` attempts, on fresh ports, when a picked port was taken before Docker bound it. */
const UP_ATTEMPTS = 3

/** `docker-compose up --build -d` as project `project`, each node's client port published on a free host port. */
export const startComposeCluster = async (project: string): Promise<ComposeCluster> => {
  const command = await composeCommand()
  if (command === undefined) throw new Error("neither docker-compose nor `docker compose` is installed")
  const topology = readTopology()
  const nodes = nodeNames(topology)
  let ports: Record<string, number> = {}
  const env = () => Object.fromEntries(nodes.map((node) => [portVariable(node), String(ports[node])]))
  const compose = (args: ReadonlyArray<string>, timeoutMs = 10 * 60_000) =>
    run(command[0]!, [...command.slice(1), "--project-name", project, "--file", COMPOSE_FILE, ...args], {
      cwd: ROOT,
      env: env(),
      timeoutMs
    })
  const services = async () => (await compose(["config", "--services"])).stdout.split("\n").filter((s) => s !== "")
  const containerOf = async (service: string) => {
    const id = (await compose(["ps", "--quiet", service])).stdout.trim()
    if (id === "") throw new Error(`no container for ${service} in project ${project}`)
    return id
  }
  const down = async () => {
    await compose(["down", "--volumes", "--rmi", "local", "--remove-orphans"])
  }

  for (let attempt = 1; ; attempt++) {
    const picked = await freePorts(nodes.length, "0.0.0.0")
    ports = Object.fromEntries(nodes.map((node, i) => [node, picked[i]!]))
    // the modelbus image is built with the classic builder (no buildx needed), as docker-compose v1 does
    const up = await tryRun(
      command[0]!,
      [...command.slice(1), "--project-name", project, "--file", COMPOSE_FILE, "up", "--build", "--detach"],
      { cwd: ROOT, env: { ...env(), DOCKER_BUILDKIT: "0", COMPOSE_DOCKER_CLI_BUILD: "0" }, timeoutMs: 40 * 60_000 }
    )
    if (up.code === 0) break
    const output = `${up.stdout}\n${up.stderr}`
    await down().catch(() => undefined)
    if (attempt < UP_ATTEMPTS && /port is already allocated|address already in use/.test(output)) continue
    throw new Error(`compose up exited ${up.code}:\n${output.trimEnd().split("\n").slice(-60).join("\n")}`)
  }

  const urlsPreferring = (node: string) =>
    [node, ...nodes.filter((n) => n !== node)].map((n) => `nats://127.0.0.1:${ports[n]}`)

  const inspect = async (id: string, format: string) =>
    (await run("docker", ["inspect", "--format", format, id])).stdout.trim()

  const healthy = async (timeoutMs: number) => {
    const started = performance.now()
    const all = await services()
    const healthyAt: Record<string, number> = {}
    await eventually(
      async () => {
        for (const service of all) {
          if (healthyAt[service] !== undefined) continue
          const state = await inspect(
            await containerOf(service),
            "{{.State.Status}} {{if .State.Health}}{{.State.Health.Status}}{{end}}"
          )
          if (state === "running healthy") healthyAt[service] = Math.round(performance.now() - started)
        }
        return all.every((service) => healthyAt[service] !== undefined) ? true : undefined
      },
      timeoutMs,
      `every service of ${project} to be healthy`
    )
    return healthyAt
  }

  const kill = async (service: string) => {
    const id = await containerOf(service)
    await run("docker", ["kill", "--signal", "KILL", id])
    await run("docker", ["wait", id], { timeoutMs: 60_000 })
  }

  const stop = async () => {
    const started = Date.now()
    await compose(["stop"])
    const stopped: Record<string, { exitCode: number; ms: number }> = {}
    for (const service of await services()) {
      const state = await inspect(await containerOf(service), "{{.State.ExitCode}} {{.State.FinishedAt}}")
      const [code, finished] = state.split(" ")
      stopped[service] = { exitCode: Number(code), ms: Date.parse(finished ?? "") - started }
    }
    return stopped
  }

  const logs = async () =>
    (await compose(["logs", "--no-color", "--tail", "30"]).catch((e: Error) => ({ stdout: e.message }))).stdout

  return { project, ports, serversPreferring: urlsPreferring, compose, containerOf, healthy, kill, stop, logs, down }
}
