// A lone Linux network namespace with only loopback up, where nothing listens until a test starts it (port 4222
// included): commands run inside it as from a user's shell; cleanup kills what is left in it by pid, then deletes it.
import { execFile } from "node:child_process"
import { readFile } from "node:fs/promises"
import { promisify } from "node:util"
import { namespaceOf, removeNamespace, removeStaleNetworks } from "./clusterNetwork.js"
import { type CliProcess, spawnProcess } from "./processes.js"

const run = promisify(execFile)

export interface ShellResult {
  readonly code: number
  readonly stdout: string
  readonly stderr: string
}

export interface Namespace {
  readonly name: string
  /** Starts `command args` inside the namespace, its output captured (`spawnProcess`). */
  readonly spawn: (command: string, args: ReadonlyArray<string>, env?: NodeJS.ProcessEnv) => CliProcess
  /** Runs one shell line inside the namespace, in `cwd`, to its end. */
  readonly shell: (
    line: string,
    options: { readonly cwd: string; readonly env?: NodeJS.ProcessEnv }
  ) => Promise<ShellResult>
  /** The pids of every process in the namespace, with their command names. */
  readonly processes: () => Promise<ReadonlyArray<{ readonly pid: number; readonly name: string }>>
  /** Kills what still runs inside (SIGKILL, by pid) and deletes the namespace. */
  readonly remove: () => Promise<void>
}

/** Quotes a value for a POSIX shell line. */
export const shellQuote = (value: string): string => `'${value.replaceAll("'", `'\\''`)}'`

const commandName = (pid: number) =>
  readFile(`/proc/${pid}/comm`, "utf8").then(
    (name) => name.trim(),
    () => undefined
  )

/** Creates `mb<this pid>-<label>` (so a killed run's namespace is removed by the next run) with `lo` up. */
export const createNamespace = async (label: string): Promise<Namespace> => {
  await removeStaleNetworks()
  const name = namespaceOf(process.pid, label)
  const remove = () => removeNamespace(name)
  try {
    await run("ip", ["netns", "add", name])
    await run("ip", ["-n", name, "link", "set", "lo", "up"])
  } catch (error) {
    await remove()
    throw error
  }
  return {
    name,
    spawn: (command, args, env = {}) => spawnProcess("ip", ["netns", "exec", name, command, ...args], env),
    shell: async (line, { cwd, env = {} }) => {
      const child = run("ip", ["netns", "exec", name, "sh", "-c", `cd ${shellQuote(cwd)} && ${line}`], {
        env: { ...process.env, ...env },
        encoding: "utf8",
        maxBuffer: 16 * 1024 * 1024
      })
      try {
        const { stdout, stderr } = await child
        return { code: 0, stdout, stderr }
      } catch (error) {
        const failed = error as { code?: unknown; stdout?: string; stderr?: string }
        if (typeof failed.code !== "number") throw error
        return { code: failed.code, stdout: failed.stdout ?? "", stderr: failed.stderr ?? "" }
      }
    },
    processes: async () => {
      const { stdout } = await run("ip", ["netns", "pids", name])
      const pids = stdout
        .split("\n")
        .filter((line) => line.trim() !== "")
        .map(Number)
      const named = await Promise.all(pids.map(async (pid) => ({ pid, name: await commandName(pid) })))
      return named.flatMap(({ pid, name }) => (name === undefined ? [] : [{ pid, name }]))
    },
    remove
  }
}
