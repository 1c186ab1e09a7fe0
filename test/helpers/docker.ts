// Docker from tests: commands run to their end with their output kept, whether a Docker engine and
// docker-compose can run here (and why not), images by tag and label, and the images a run left untagged.
import { spawn } from "node:child_process"

export interface Ran {
  readonly code: number | null
  readonly stdout: string
  readonly stderr: string
}

export interface RunOptions {
  readonly env?: NodeJS.ProcessEnv
  readonly cwd?: string
  /** Piped into the command's stdin (a stream is piped as it comes). */
  readonly input?: NodeJS.ReadableStream
  /** A safety net against a hang, not a timing check: the command is killed after it. */
  readonly timeoutMs?: number
}

/** Runs a command to its end and resolves with its exit code and output, whatever the code. */
export const tryRun = (command: string, args: ReadonlyArray<string>, options: RunOptions = {}): Promise<Ran> =>
  new Promise((resolve) => {
    const child = spawn(command, args, {
      cwd: options.cwd,
      env: { ...process.env, ...options.env },
      stdio: [options.input === undefined ? "ignore" : "pipe", "pipe", "pipe"]
    })
    let stdout = ""
    let stderr = ""
    child.stdout!.on("data", (chunk: Buffer) => {
      stdout += chunk.toString()
    })
    child.stderr!.on("data", (chunk: Buffer) => {
      stderr += chunk.toString()
    })
    if (options.input !== undefined) options.input.pipe(child.stdin!)
    const timer =
      options.timeoutMs === undefined
        ? undefined
        : setTimeout(() => {
            stderr += `\n(killed after ${options.timeoutMs} ms)`
            child.kill("SIGKILL")
          }, options.timeoutMs)
    child.once("error", (error) => {
      clearTimeout(timer)
      resolve({ code: null, stdout, stderr: `${stderr}${error.message}` })
    })
    child.once("close", (code) => {
      clearTimeout(timer)
      resolve({ code, stdout, stderr })
    })
  })

const tail = (text: string, lines = 40) => text.trimEnd().split("\n").slice(-lines).join("\n")

/** Runs a command to its end; rejects with the command and the end of its output unless it exits 0. */
export const run = async (command: string, args: ReadonlyArray<string>, options: RunOptions = {}): Promise<Ran> => {
  const ran = await tryRun(command, args, options)
  if (ran.code !== 0)
    throw new Error(`${command} ${args.join(" ")} exited ${ran.code}:\n${tail(`${ran.stdout}\n${ran.stderr}`)}`)
  return ran
}

/** How this machine runs compose: docker-compose (v1, Debian's package) or the `docker compose` plugin. */
export const composeCommand = async (): Promise<ReadonlyArray<string> | undefined> => {
  if ((await tryRun("docker-compose", ["version"])).code === 0) return ["docker-compose"]
  if ((await tryRun("docker", ["compose", "version"])).code === 0) return ["docker", "compose"]
  return undefined
}

/** Why Docker cannot run the compose cluster here, or undefined when it can. */
export const dockerUnavailable = async (): Promise<string | undefined> => {
  const version = await tryRun("docker", ["version", "--format", "{{.Client.Version}}"])
  if (version.code === null) return "the docker command is not on PATH (Debian: apt-get install docker.io)"
  if ((await composeCommand()) === undefined)
    return "neither docker-compose nor `docker compose` is installed (Debian: apt-get install docker-compose)"
  const info = await tryRun("docker", ["info", "--format", "{{.ServerVersion}}"], { timeoutMs: 60_000 })
  if (info.code !== 0)
    return `no Docker engine answers (${tail(info.stderr || info.stdout, 3)
      .replace(/\s+/g, " ")
      .trim()}); start dockerd, as .ci/run does`
  return undefined
}

/** An image's labels, or undefined when no image has this tag. */
export const imageLabels = async (tag: string): Promise<Readonly<Record<string, string>> | undefined> => {
  const inspected = await tryRun("docker", ["image", "inspect", "--format", "{{json .Config.Labels}}", tag])
  if (inspected.code !== 0) return undefined
  return (JSON.parse(inspected.stdout.trim() || "null") as Record<string, string> | null) ?? {}
}

/** Pulls an image; resolves with why it could not (no registry reachable, no such image), or undefined. */
export const pullImage = async (tag: string): Promise<string | undefined> => {
  const pulled = await tryRun("docker", ["pull", "--quiet", tag], { timeoutMs: 10 * 60_000 })
  return pulled.code === 0
    ? undefined
    : tail(pulled.stderr || pulled.stdout, 2)
        .replace(/\s+/g, " ")
        .trim()
}

/** The ids of the images without a tag (a multi-stage build's earlier stages, an image a rebuild replaced). */
export const untaggedImages = async (): Promise<ReadonlySet<string>> => {
  const listed = await run("docker", ["images", "--quiet", "--no-trunc", "--filter", "dangling=true"])
  return new Set(listed.stdout.split("\n").filter((id) => id !== ""))
}

/** Removes the untagged images that appeared since `before` was listed (what this run's builds left). */
export const removeUntaggedSince = async (before: ReadonlySet<string>): Promise<number> => {
  const left = [...(await untaggedImages())].filter((id) => !before.has(id))
  for (const id of left) await tryRun("docker", ["rmi", id])
  return left.length
}
