// docker-compose.yml and the Dockerfile, checked without a Docker engine: the services, the command
// the supervisor runs (against the real CLI's flags), and the config it serves (the project's own loader).
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

const root = fileURLToPath(new URL("../../", import.meta.url))
const cli = path.join(root, "dist/cli/main.js")

interface Service {
  readonly image?: string
  readonly build?: string | { readonly context?: string; readonly dockerfile?: string }
  readonly command?: string | ReadonlyArray<string>
  readonly environment?: Record<string, string> | ReadonlyArray<string>
  readonly depends_on?: ReadonlyArray<string> | Record<string, unknown>
  readonly restart?: string
  readonly stop_grace_period?: string
}

const compose = parse(readFileSync(path.join(root, "docker-compose.yml"), "utf8")) as {
  services?: Record<string, Service>
}
const services = compose.services ?? {}
const nats = services.nats
const supervisor = services.supervisor

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

const environment = (service: Service): Record<string, string> => {
  const env = service.environment
  if (env === undefined) return {}
  if (!Array.isArray(env)) return env as Record<string, string>
  return Object.fromEntries(
    (env as ReadonlyArray<string>).map((entry) => [entry.split("=")[0] ?? "", entry.split("=").slice(1).join("=")])
  )
}

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

const buildOf = (service: Service): { context: string; dockerfile: string } => {
  const build = service.build
  if (build === undefined) return { context: "", dockerfile: "" }
  return typeof build === "string"
    ? { context: build, dockerfile: "Dockerfile" }
    : { context: build.context ?? ".", dockerfile: build.dockerfile ?? "Dockerfile" }
}

const supervisorBuild = supervisor === undefined ? { context: "", dockerfile: "" } : buildOf(supervisor)
const dockerfilePath = path.resolve(root, supervisorBuild.context, supervisorBuild.dockerfile)
const stages = existsSync(dockerfilePath) ? dockerfileStages(readFileSync(dockerfilePath, "utf8")) : []
const runtime = stages.at(-1)
const workdir = runtime === undefined ? undefined : instruction(runtime, "WORKDIR").at(-1)

/** A path inside the image, mapped back to the repo (the image's WORKDIR holds the repo's files). */
const inRepo = (imagePath: string): string => {
  const base = workdir ?? "/app"
  return path.posix.isAbsolute(imagePath)
    ? path.join(root, path.posix.relative(base, imagePath))
    : path.join(root, imagePath)
}

const superviseArgs = words(supervisor?.command)
const configArg = flagValue(superviseArgs, ["--config", "-c"])
const serverArg = flagValue(superviseArgs, ["--server", "-s"])

describe("docker-compose.yml", () => {
  it("has a nats service running JetStream and a supervisor service", () => {
    expect(Object.keys(services)).toEqual(expect.arrayContaining(["nats", "supervisor"]))
    expect(nats?.image).toMatch(/^nats:/)
    expect(words(nats?.command)).toContain("-js")
  })

  it("builds the supervisor from the repo's own Dockerfile", () => {
    expect(path.resolve(root, supervisorBuild.context)).toBe(path.resolve(root))
    expect(existsSync(dockerfilePath), `${dockerfilePath} exists`).toBe(true)
  })

  it("starts the supervisor after nats, restarts it, and leaves it time to drain", () => {
    const dependsOn = supervisor?.depends_on
    const deps = Array.isArray(dependsOn) ? dependsOn : Object.keys(dependsOn ?? {})
    expect(deps).toContain("nats")
    expect(supervisor?.restart).toBe("unless-stopped")
    const grace = /^(\d+)s$/.exec(supervisor?.stop_grace_period ?? "")
    expect(Number(grace?.[1] ?? 0)).toBeGreaterThanOrEqual(15)
  })

  it("runs `supervise --config` on the example config that `modelbus up` serves", () => {
    expect(superviseArgs[0]).toBe("supervise")
    expect(configArg).toBeDefined()
    const config = inRepo(configArg ?? "")
    expect(existsSync(config), `${configArg} is ${config} in the repo`).toBe(true)
    expect(realpathSync(config)).toBe(realpathSync(EXAMPLE_CONFIG))
  })

  it("serves a config the project's loader accepts, on the nats service", async () => {
    const config: Config = await Effect.runPromise(loadConfig(inRepo(configArg ?? "")))
    expect(config.models.length).toBeGreaterThan(0)
    for (const model of config.models)
      expect(existsSync(path.join(model.path, "model.json")), `${model.path}/model.json`).toBe(true)
    // The order `modelbus supervise` picks a server in: --server, the file's nats.servers, $NATS_URL.
    const effective = serverArg ?? config.servers ?? environment(supervisor ?? {}).NATS_URL
    expect(effective).toBe("nats://nats:4222")
  })
})

describe("Dockerfile", () => {
  it("has a build stage and a runtime stage on node:20-bookworm-slim", () => {
    expect(stages.length).toBeGreaterThanOrEqual(2)
    for (const stage of stages) expect(stage.from).toBe("node:20-bookworm-slim")
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

  it("defaults to supervising the example config", () => {
    const cmd = execForm(instruction(runtime!, "CMD").at(-1))
    expect(cmd[0]).toBe("supervise")
    const config = flagValue(cmd, ["--config", "-c"])
    expect(config).toBeDefined()
    expect(realpathSync(inRepo(config ?? ""))).toBe(realpathSync(EXAMPLE_CONFIG))
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
    const flags = superviseArgs.filter((arg) => arg.startsWith("-")).map((arg) => arg.split("=")[0] ?? arg)
    expect(flags).toEqual(expect.arrayContaining(["--config", "--server"]))
    for (const flag of flags) expect(help).toMatch(new RegExp(`(^|[\\s,])${flag}[\\s,=]`, "m"))
  })
})
