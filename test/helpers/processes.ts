// Test harness: real nats-server and real `modelbus` CLI processes (from dist/), started on free
// ports and temp folders, with helpers to await their output and exits instead of sleeping.
import { type ChildProcess, spawn } from "node:child_process"
import { mkdtemp, readFile, writeFile } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join, resolve } from "node:path"
import { afterAll } from "vitest"
import { stringify } from "yaml"

export const ROOT = resolve(import.meta.dirname, "../..")
export const CLI = join(ROOT, "dist/cli/main.js")
export const IRIS_MODEL = join(ROOT, "examples/iris/model")
export const FIXTURES = join(ROOT, "test/fixtures")

export interface Exit {
  readonly code: number | null
  readonly signal: NodeJS.Signals | null
}

export interface CliProcess {
  readonly child: ChildProcess
  readonly pid: number
  /** Everything written to stdout and stderr so far. */
  readonly output: () => string
  readonly exited: Promise<Exit>
  /**
   * The first output line matching `pattern`; rejects when the process exits first, or after
   * `timeoutMs` (never sooner than `PATIENCE_MS` unless `exact`: only a start attempt's own bound is exact).
   */
  readonly waitForLine: (pattern: RegExp, timeoutMs?: number, exact?: boolean) => Promise<string>
  /** SIGTERM and wait for the exit. */
  readonly stop: () => Promise<Exit>
}

/** The processes this test file started that have not exited yet. */
const running = new Set<ChildProcess>()

/**
 * Kills what the file's tests left running: a test that timed out while it awaited a process (a `runCli`
 * whose command never ended) would otherwise leave it behind, orphaned, for the rest of the run. Registered
 * at import, so it runs after the file's own teardown hooks (they stop what they started gracefully).
 */
const killLeftovers = () => {
  for (const child of running) child.kill("SIGKILL")
  running.clear()
}
const warnAndKillLeftovers = () => {
  if (running.size > 0)
    console.warn(
      `killing ${running.size} process(es) this file's tests left running: ${[...running].map((c) => `${c.pid} (${c.spawnargs.slice(1).join(" ")})`).join("; ")}`
    )
  killLeftovers()
}
try {
  afterAll(warnAndKillLeftovers)
} catch {
  // imported outside a test file (a test's agent process runs these helpers): the exit hook below is enough
}
process.once("exit", killLeftovers)

/** Runs `node dist/cli/main.js ...args`. */
export const spawnCli = (args: ReadonlyArray<string>, env: NodeJS.ProcessEnv = {}): CliProcess =>
  spawnProcess(process.execPath, [CLI, ...args], env)

/** Runs any command with its output captured like `spawnCli`'s; `ipc` adds a Node IPC channel (fd 3). */
export const spawnProcess = (
  command: string,
  args: ReadonlyArray<string>,
  env: NodeJS.ProcessEnv = {},
  options: { readonly ipc?: boolean } = {}
): CliProcess => {
  const child = spawn(command, args, {
    env: { ...process.env, ...env },
    stdio: options.ipc === true ? ["ignore", "pipe", "pipe", "ipc"] : ["ignore", "pipe", "pipe"]
  })
  running.add(child)
  child.once("exit", () => running.delete(child))
  let text = ""
  const listeners = new Set<() => void>()
  const onData = (chunk: Buffer) => {
    text += chunk.toString()
    for (const l of listeners) l()
  }
  child.stdout!.on("data", onData)
  child.stderr!.on("data", onData)
  const exited = new Promise<Exit>((res) => child.once("exit", (code, signal) => res({ code, signal })))
  const waitForLine = (pattern: RegExp, boundMs = 30_000, exact = false) =>
    new Promise<string>((res, rej) => {
      const timeoutMs = exact ? boundMs : Math.max(boundMs, PATIENCE_MS)
      const check = () => {
        const line = text.split("\n").find((l) => pattern.test(l))
        if (line !== undefined) {
          done()
          res(line)
        }
      }
      const timer = setTimeout(() => {
        done()
        rej(new Error(`no line matching ${pattern} within ${timeoutMs} ms; output:\n${text}`))
      }, timeoutMs)
      const done = () => {
        clearTimeout(timer)
        listeners.delete(check)
      }
      void exited.then((e) => {
        if (!listeners.has(check)) return
        done()
        rej(new Error(`process exited (${e.signal ?? e.code}) before printing ${pattern}; output:\n${text}`))
      })
      listeners.add(check)
      check()
    })
  const stop = () => {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM")
    return exited
  }
  return { child, pid: child.pid!, output: () => text, exited, waitForLine, stop }
}

/** Runs a CLI command to completion. */
export const runCli = async (args: ReadonlyArray<string>, env: NodeJS.ProcessEnv = {}) => {
  const p = spawnCli(args, env)
  const exit = await p.exited
  return { ...exit, output: p.output() }
}

/** Writes a config file (YAML) into a fresh temp folder and returns its path. */
export const writeConfig = async (config: object, name = "modelbus.yaml"): Promise<string> => {
  const dir = await mkdtemp(join(tmpdir(), "modelbus-test-"))
  const file = join(dir, name)
  await writeFile(file, name.endsWith(".json") ? JSON.stringify(config) : stringify(config))
  return file
}

/** Starts `modelbus supervise` on a config and waits for its ready line. */
export const startSupervisor = async (
  natsUrl: string,
  config: object,
  options: { readonly waitReady?: boolean } = {}
) => {
  const file = await writeConfig(config)
  const p = spawnCli(["supervise", "--config", file, "--server", natsUrl])
  if (options.waitReady !== false) await p.waitForLine(/modelbus ready/, 60_000)
  return p
}

/**
 * How long `eventually` waits at the least, whatever bound a test names: a safety net against a hang,
 * never a verdict on how fast a busy machine is (a failure it reports is "this never happened").
 */
export const PATIENCE_MS = 90_000

/**
 * Polls `check` until it returns a value (not undefined), for state only observable by asking. The
 * bound is what the test expects at worst; the wait is never shorter than `PATIENCE_MS`.
 */
export const eventually = <A>(check: () => Promise<A | undefined>, timeoutMs: number, what: string): Promise<A> =>
  within(check, Math.max(timeoutMs, PATIENCE_MS), what)

/**
 * Polls `check` until it returns a value, giving up after exactly `boundMs`: only for decisions that
 * act on the bound (a cluster start attempt thrown away and tried again), never for a test's verdict.
 */
export const within = async <A>(check: () => Promise<A | undefined>, boundMs: number, what: string): Promise<A> => {
  const deadline = Date.now() + boundMs
  let last: unknown
  for (;;) {
    try {
      const value = await check()
      if (value !== undefined) return value
    } catch (error) {
      last = error
    }
    if (Date.now() > deadline)
      throw new Error(`timed out after ${boundMs} ms waiting for ${what}${last ? `: ${String(last)}` : ""}`)
    await new Promise((r) => setTimeout(r, 100))
  }
}

/** True while a process with this pid exists. */
export const isAlive = (pid: number): boolean => {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

/** The 150 rows of the Iris data set (four measurements each), as the example model takes them. */
export const irisRows = async (): Promise<Array<Array<number>>> => {
  const csv = await readFile(join(IRIS_MODEL, "../iris.csv"), "utf8")
  return csv
    .trim()
    .split("\n")
    .slice(1)
    .map((line) => line.split(",").slice(0, 4).map(Number))
}
