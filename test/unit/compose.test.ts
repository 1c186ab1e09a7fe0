// docker-compose.yml and the Dockerfile, checked without a Docker engine: `docker-compose config` accepts the
// file, which runs deploy/topology.json on deploy/'s files as the namespace tests do; the image runs the CLI.
import { execFile } from "node:child_process"
import { existsSync, readFileSync, realpathSync } from "node:fs"
import path from "node:path"
import { fileURLToPath } from "node:url"
import { promisify } from "node:util"
import { Effect } from "effect"
import { beforeAll, describe, expect, it } from "vitest"
import { parse } from "yaml"
import { EXAMPLE_CONFIG } from "../../src/cli/serve.js"
import { type Config, loadConfig } from "../../src/supervisor/config.js"
import {
  type AddressOf,
  clientUrl,
  DEPLOY,
  natsEnvironment,
  nodeNames,
  readTopology,
  serversPreferring
} from "../helpers/clusterTopology.js"
import { portVariable } from "../helpers/composeCluster.js"

const root = fileURLToPath(new URL("../../", import.meta.url))
const cli = path.join(root, "dist/cli/main.js")
const run = promisify(execFile)

const topology = readTopology()
/** In docker-compose a node is reached by its service name. */
const composeAddress: AddressOf = (node) => node
const natsConfig = path.join(DEPLOY, topology.natsConfig)
const supervisorConfig = path.join(DEPLOY, topology.supervisorConfig)

interface Service {
  readonly image?: string
  readonly build?: string | { readonly context?: string; readonly dockerfile?: string }
  readonly command?: string | ReadonlyArray<string>
  readonly environment?: Record<string, string>
  readonly volumes?: ReadonlyArray<string>
  readonly depends_on?: ReadonlyArray<string> | Record<string, { readonly condition?: string }>
  readonly healthcheck?: { readonly test?: string | ReadonlyArray<string> }
  readonly sysctls?: Record<string, string | number>
  readonly restart?: string
  readonly stop_grace_period?: string
  readonly ports?: ReadonlyArray<{ readonly published?: number | string; readonly target?: number | string }>
}

/** The services as `docker-compose config` resolves them (anchors merged, bind-mount paths made absolute). */
let services: Record<string, Service> = {}

/** The environment without the variables that move published ports: the file's defaults apply. */
const defaultsEnv = Object.fromEntries(
  Object.entries(process.env).filter(([name]) => !nodeNames(topology).some((node) => portVariable(node) === name))
)

beforeAll(async () => {
  const config = ["--file", "docker-compose.yml", "config"]
  const { stdout } = await run("docker-compose", config, { cwd: root, env: defaultsEnv }).catch(
    (error: NodeJS.ErrnoException & { stderr?: string }) => {
      if (error.code === "ENOENT")
        throw new Error(
          "docker-compose is not on PATH: install Debian's package (apt-get install docker-compose); .ci/run does when it is missing"
        )
      throw new Error(`docker-compose config rejects docker-compose.yml: ${error.stderr ?? error.message}`)
    }
  )
  services = (parse(stdout) as { services?: Record<string, Service> }).services ?? {}
}, 60_000)

const service = (name: string): Service => {
  const found = services[name]
  if (found === undefined) throw new Error(`docker-compose.yml has no service ${name}`)
  return found
}

const words = (command: Service["command"]): ReadonlyArray<string> =>
  command === undefined ? [] : typeof command === "string" ? command.trim().split(/\s+/) : command

/** The value of `--name`, `-alias`, or `--name=value` in an argument list. */
const flagValue = (args: ReadonlyArray<string>, names: ReadonlyArray<string>): string | undefined => {
  for (let i = 0; i < args.length; i++) {
    const arg = args[i] ?? ""
    if (names.includes(arg)) return args[i + 1]
    const eq = names.find((name) => arg.startsWith(`${name}=`))
    if (eq !== undefined) return arg.slice(eq.length + 1)
  }
  return undefined
}

/** A service's volumes: `source:target[:mode]`, the source an absolute path for a bind mount, else a volume name. */
const mounts = (s: Service) =>
  (s.volumes ?? []).map((v) => {
    const [source = "", target = ""] = v.split(":")
    return { source, target, bind: path.isAbsolute(source) }
  })

/** A path inside a service's container, mapped back to the repo through its bind mounts, else the image's WORKDIR. */
const inRepo = (s: Service, containerPath: string): string => {
  for (const { source, target, bind } of mounts(s)) {
    const rest = path.posix.relative(target, containerPath)
    if (bind && !rest.startsWith("..") && !path.posix.isAbsolute(rest)) return path.join(source, rest)
  }
  const base = workdir ?? "/app"
  return path.posix.isAbsolute(containerPath)
    ? path.join(root, path.posix.relative(base, containerPath))
    : path.join(root, containerPath)
}

const dependencies = (s: Service): Record<string, string | undefined> => {
  const deps = s.depends_on ?? []
  return Array.isArray(deps)
    ? Object.fromEntries(deps.map((d) => [d, undefined]))
    : Object.fromEntries(Object.entries(deps).map(([name, d]) => [name, d.condition]))
}

describe("docker-compose.yml runs the cluster of deploy/topology.json", () => {
  it("has one service per NATS node and per supervisor of the topology", () => {
    const expected = [...nodeNames(topology), ...topology.supervisors.map((s) => s.name)]
    expect(Object.keys(services).sort()).toEqual(expected.sort())
  })

  it("runs every node on deploy/nats/cluster.conf, routed to the other nodes, with a store of its own", () => {
    for (const node of nodeNames(topology)) {
      const s = service(node)
      expect(s.image, node).toMatch(/^nats:/)
      const args = words(s.command)
      expect(inRepo(s, flagValue(args, ["-c", "--config"]) ?? ""), node).toBe(natsConfig)
      const storeDir = s.environment?.NATS_STORE_DIR ?? ""
      expect(s.environment, node).toEqual(natsEnvironment(topology, composeAddress, node, storeDir))
      expect(
        mounts(s).filter((m) => !m.bind && m.target === storeDir),
        `a volume at ${storeDir}`
      ).toHaveLength(1)
    }
    const stores = nodeNames(topology).flatMap((n) =>
      mounts(service(n))
        .filter((m) => !m.bind)
        .map((m) => m.source)
    )
    expect(new Set(stores).size).toBe(nodeNames(topology).length)
  })

  it("gives nats-server a valid config for every node (nats-server -t), with the topology's cluster and ports", async () => {
    for (const node of nodeNames(topology)) {
      const env = { ...process.env, ...service(node).environment }
      const { stdout, stderr } = await run("nats-server", ["-c", natsConfig, "-t"], { env })
      expect(`${stdout}${stderr}`, node).toMatch(/is valid/)
    }
    const conf = readFileSync(natsConfig, "utf8")
    expect(conf).toMatch(new RegExp(`^\\s*name:\\s*${topology.cluster}\\s*$`, "m"))
    expect(conf).toMatch(new RegExp(`^listen:\\s*0\\.0\\.0\\.0:${topology.ports.client}\\s*$`, "m"))
    expect(conf).toMatch(new RegExp(`^\\s+listen:\\s*0\\.0\\.0\\.0:${topology.ports.cluster}\\s*$`, "m"))
    expect(conf).toMatch(new RegExp(`^http:\\s*${topology.ports.monitor}\\s*$`, "m"))
    expect(conf).toMatch(/^\s*store_dir:\s*\$NATS_STORE_DIR\s*$/m)
  })

  it("publishes each node's client port on a host port its own variable moves (4222, 4223, 4224 by default)", async () => {
    const published = (s: Service | undefined) =>
      (s?.ports ?? []).map((p) => ({ published: Number(p.published), target: Number(p.target) }))
    const moved = Object.fromEntries(nodeNames(topology).map((node, i) => [portVariable(node), String(15_000 + i)]))
    const { stdout } = await run("docker-compose", ["--file", "docker-compose.yml", "config"], {
      cwd: root,
      env: { ...defaultsEnv, ...moved }
    })
    const movedServices = (parse(stdout) as { services?: Record<string, Service> }).services ?? {}
    for (const [i, node] of nodeNames(topology).entries()) {
      expect(published(service(node)), node).toEqual([{ published: 4222 + i, target: topology.ports.client }])
      expect(published(movedServices[node]), node).toEqual([{ published: 15_000 + i, target: topology.ports.client }])
    }
  })

  it("checks every node's health on its monitoring port and sets the topology's kernel settings", () => {
    for (const node of nodeNames(topology)) {
      const s = service(node)
      expect(words(s.healthcheck?.test).join(" "), node).toContain(`:${topology.ports.monitor}/healthz`)
      const sysctls = Object.fromEntries(Object.entries(s.sysctls ?? {}).map(([k, v]) => [k, String(v)]))
      expect(sysctls, node).toEqual(topology.sysctls)
    }
  })

  it("attaches each supervisor to its node first, serving deploy/modelbus.cluster.yaml", () => {
    for (const { name, node } of topology.supervisors) {
      const s = service(name)
      const args = words(s.command)
      expect(args[0], name).toBe("supervise")
      expect(inRepo(s, flagValue(args, ["--config", "-c"]) ?? ""), name).toBe(supervisorConfig)
      const servers = serversPreferring(topology, composeAddress, node).join(",")
      expect(flagValue(args, ["--server", "-s"]), name).toBe(servers)
      expect(s.environment?.NATS_URL, `${name}'s NATS_URL for the CLI`).toBe(servers)
    }
    const attachedTo = new Set(topology.supervisors.map((s) => s.node))
    expect(attachedTo.size, "supervisors attached to different nodes").toBeGreaterThanOrEqual(2)
  })

  it("starts every supervisor once every node is healthy, checks it, restarts it and leaves it time to drain", () => {
    for (const { name } of topology.supervisors) {
      const s = service(name)
      const deps = dependencies(s)
      for (const node of nodeNames(topology)) expect(deps[node], `${name} waits for ${node}`).toBe("service_healthy")
      // /readyz on the metrics port the image sets (MODELBUS_METRICS_PORT): 200 once every model serves
      expect(words(s.healthcheck?.test).join(" "), name).toMatch(/MODELBUS_METRICS_PORT\}?\/readyz/)
      expect(imageEnv.MODELBUS_METRICS_PORT, "the image sets the metrics port").toMatch(/^\d+$/)
      expect(s.restart).toBe("unless-stopped")
      const grace = /^(\d+)s$/.exec(s.stop_grace_period ?? "")
      expect(Number(grace?.[1] ?? 0)).toBeGreaterThanOrEqual(15)
    }
  })

  it("builds every supervisor from the repo's own Dockerfile", () => {
    for (const { name } of topology.supervisors) {
      const build = service(name).build
      const context = typeof build === "string" ? build : (build?.context ?? "")
      const dockerfile = typeof build === "string" ? "Dockerfile" : (build?.dockerfile ?? "Dockerfile")
      expect(path.resolve(root, context), name).toBe(path.resolve(root))
      expect(path.resolve(root, context, dockerfile), name).toBe(dockerfilePath)
    }
  })

  it("serves a config the project's loader accepts: the example's model, every node listed", async () => {
    const config: Config = await Effect.runPromise(loadConfig(supervisorConfig))
    const example: Config = await Effect.runPromise(loadConfig(EXAMPLE_CONFIG))
    expect(config.models.map((m) => [m.name, realpathSync(m.path)])).toEqual(
      example.models.map((m) => [m.name, realpathSync(m.path)])
    )
    for (const model of config.models) expect(existsSync(path.join(model.path, "model.json"))).toBe(true)
    const listed = typeof config.servers === "string" ? config.servers.split(",") : [...(config.servers ?? [])]
    expect(listed.sort()).toEqual(nodeNames(topology).map((n) => clientUrl(topology, composeAddress, n)))
  })
})

// ---- the Dockerfile: its stages, each a FROM line and the instructions after it ----
interface Stage {
  readonly from: string
  readonly name?: string
  readonly lines: ReadonlyArray<string>
}

const dockerfileStages = (text: string): ReadonlyArray<Stage> => {
  const logical = text
    .replace(/\\\r?\n/g, " ")
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l !== "" && !l.startsWith("#"))
  const stages: Array<{ from: string; name?: string; lines: Array<string> }> = []
  for (const line of logical) {
    const from = /^FROM\s+(\S+)(?:\s+AS\s+(\S+))?/i.exec(line)
    if (from !== null)
      stages.push({ from: from[1] ?? "", ...(from[2] === undefined ? {} : { name: from[2] }), lines: [] })
    else stages.at(-1)?.lines.push(line)
  }
  return stages
}
const instruction = (stage: Stage, name: string): ReadonlyArray<string> =>
  stage.lines.filter((l) => l.toUpperCase().startsWith(`${name} `)).map((l) => l.slice(name.length).trim())
const execForm = (text: string | undefined): ReadonlyArray<string> =>
  text === undefined ? [] : (JSON.parse(text) as Array<string>)

const dockerfilePath = path.join(root, "Dockerfile")
const stages = existsSync(dockerfilePath) ? dockerfileStages(readFileSync(dockerfilePath, "utf8")) : []
const runtime = stages.at(-1)
const workdir = runtime === undefined ? undefined : instruction(runtime, "WORKDIR").at(-1)
/** The runtime stage's ENV settings (`ENV NAME=value` forms). */
const imageEnv: Record<string, string> = Object.fromEntries(
  (runtime === undefined ? [] : instruction(runtime, "ENV")).flatMap((line) =>
    line
      .split(/\s+/)
      .map((pair) => /^([A-Za-z_][A-Za-z0-9_]*)=(.*)$/.exec(pair))
      .flatMap((m) => (m === null ? [] : [[m[1]!, m[2]!] as const]))
  )
)
/** A path inside the image, mapped back to the repo (the image's WORKDIR holds the repo's files). */
const inImage = (imagePath: string): string => inRepo({}, imagePath)

describe("Dockerfile", () => {
  it("has a build stage and a runtime stage on node:24-bookworm-slim, an LTS line CI tests", () => {
    expect(stages.length).toBeGreaterThanOrEqual(2)
    for (const stage of stages) expect(stage.from).toBe("node:24-bookworm-slim")
    expect(instruction(stages[0]!, "RUN").join("\n")).toMatch(/npm run build/)
  })

  it("runs dist/cli/main.js as the node user, from /app", () => {
    expect(runtime).toBeDefined()
    expect(workdir).toBe("/app")
    expect(execForm(instruction(runtime!, "ENTRYPOINT").at(-1))).toEqual(["node", "dist/cli/main.js"])
    expect(instruction(runtime!, "USER").at(-1)).toBe("node")
  })

  it("installs production dependencies and copies dist/ and examples/ into the runtime stage", () => {
    expect(instruction(runtime!, "RUN").join("\n")).toMatch(/npm ci --omit=dev/)
    const copies = instruction(runtime!, "COPY").map((c) => c.split(/\s+/).filter((w) => !w.startsWith("--")))
    expect(copies.some((c) => c.slice(0, -1).some((src) => /^(\.\/)?examples\/?$/.test(src)))).toBe(true)
    expect(copies.some((c) => c.slice(0, -1).some((src) => /^(\/app\/)?dist\/?$/.test(src)))).toBe(true)
  })

  it("serves metrics on a port it exposes, and checks its health on /healthz there", () => {
    expect(imageEnv.MODELBUS_METRICS_PORT).toMatch(/^\d+$/)
    expect(instruction(runtime!, "EXPOSE").join(" ").split(/\s+/)).toContain(imageEnv.MODELBUS_METRICS_PORT)
    const check = instruction(runtime!, "HEALTHCHECK").at(-1) ?? ""
    const command = execForm(/CMD\s+(\[.*\])$/.exec(check)?.[1])
    expect(command.slice(0, 2)).toEqual(["node", "-e"])
    expect(command[2]).toMatch(/MODELBUS_METRICS_PORT\}\/healthz/)
  })

  it("defaults to supervising the example config", () => {
    const cmd = execForm(instruction(runtime!, "CMD").at(-1))
    expect(cmd[0]).toBe("supervise")
    const config = flagValue(cmd, ["--config", "-c"])
    expect(config).toBeDefined()
    expect(realpathSync(inImage(config ?? ""))).toBe(realpathSync(EXAMPLE_CONFIG))
  })
})

describe("the CLI the image runs", () => {
  let help = ""

  beforeAll(async () => {
    if (!existsSync(cli)) throw new Error(`${cli} is missing: run \`npm run build\` first (npm test does)`)
    const { stdout, stderr } = await promisify(execFile)(process.execPath, [cli, "supervise", "--help"], {
      cwd: root,
      timeout: 30_000
    })
    help = `${stdout}${stderr}`
  })

  it("defines the supervise subcommand", () => {
    expect(help).toMatch(/modelbus supervise/)
  })

  it("defines every flag the compose file passes to it", () => {
    for (const { name } of topology.supervisors) {
      const args = words(service(name).command)
      const flags = args.filter((arg) => arg.startsWith("-")).map((arg) => arg.split("=")[0] ?? arg)
      expect(flags).toEqual(expect.arrayContaining(["--config", "--server"]))
      for (const flag of flags) expect(help).toMatch(new RegExp(`(^|[\\s,])${flag}[\\s,=]`, "m"))
    }
  })
})
