// Every process the bench starts, tracked so that all of them stop at the end, even on failure:
// forked TypeScript helpers (with tsx), `modelbus supervise`, and the actor pids it reports.
import { type ChildProcess, fork, spawn } from "node:child_process"
import { readFileSync } from "node:fs"
import { join } from "node:path"
import { ROOT } from "./paths.js"

interface Tracked {
  readonly child: ChildProcess
  readonly name: string
}

const tracked: Array<Tracked> = []
/** Grandchildren (actors) we did not fork ourselves: killed at the end only if still running the expected command. */
const adopted: Array<{ readonly pid: number; readonly cmdline: string }> = []

const running = (child: ChildProcess) => child.exitCode === null && child.signalCode === null

/** Keeps the last lines a child printed, for error messages. */
const tail = (child: ChildProcess) => {
  let text = ""
  const listeners = new Set<() => void>()
  const onData = (chunk: Buffer) => {
    text = (text + chunk.toString()).slice(-20_000)
    for (const l of listeners) l()
  }
  child.stdout?.on("data", onData)
  child.stderr?.on("data", onData)
  return { text: () => text, listeners }
}

export interface Started {
  readonly child: ChildProcess
  readonly pid: number
  readonly name: string
  readonly output: () => string
  /** Resolves with the first output line matching `pattern`; rejects if the process exits first or on timeout. */
  readonly waitForLine: (pattern: RegExp, timeoutMs: number) => Promise<string>
  readonly stop: () => Promise<void>
}

const track = (child: ChildProcess, name: string): Started => {
  tracked.push({ child, name })
  const out = tail(child)
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()))
  const waitForLine = (pattern: RegExp, timeoutMs: number) =>
    new Promise<string>((resolve, reject) => {
      const check = () => {
        const line = out
          .text()
          .split("\n")
          .find((l) => pattern.test(l))
        if (line !== undefined) finish(() => resolve(line))
      }
      const finish = (then: () => void) => {
        clearTimeout(timer)
        out.listeners.delete(check)
        then()
      }
      const timer = setTimeout(
        () =>
          finish(() =>
            reject(new Error(`${name}: no line matching ${pattern} within ${timeoutMs} ms:\n${out.text()}`))
          ),
        timeoutMs
      )
      void exited.then(() => {
        if (out.listeners.has(check))
          finish(() =>
            reject(
              new Error(`${name} exited (${child.signalCode ?? child.exitCode}) before ${pattern}:\n${out.text()}`)
            )
          )
      })
      out.listeners.add(check)
      check()
    })
  return { child, pid: child.pid ?? -1, name, output: out.text, waitForLine, stop: () => stopChild(child) }
}

const stopChild = async (child: ChildProcess, graceMs = 5_000): Promise<void> => {
  if (!running(child)) return
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()))
  child.kill("SIGTERM")
  const timer = setTimeout(() => child.kill("SIGKILL"), graceMs)
  await exited
  clearTimeout(timer)
}

/** Forks a bench helper written in TypeScript (run with tsx), with an IPC channel. */
export const forkHelper = (file: string, name: string, env: NodeJS.ProcessEnv = {}): Started => {
  const child = fork(join(ROOT, file), [], {
    cwd: ROOT,
    env: { ...process.env, ...env },
    execArgv: ["--import", "tsx"],
    stdio: ["ignore", "pipe", "pipe", "ipc"],
    serialization: "advanced"
  })
  return track(child, name)
}

/** Spawns `node dist/cli/main.js ...args` (the modelbus CLI as a user runs it; another build's with `cli`). */
export const spawnCli = (
  args: ReadonlyArray<string>,
  name: string,
  env: NodeJS.ProcessEnv = {},
  cli = join(ROOT, "dist/cli/main.js")
): Started => {
  const child = spawn(process.execPath, [cli, ...args], {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "pipe"]
  })
  return track(child, name)
}

const cmdlineOf = (pid: number): string | undefined => {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, "utf8").replaceAll("\0", " ")
  } catch {
    return undefined
  }
}

/** Remembers a process started on our behalf (an actor forked by our supervisor) to kill it if it outlives its parent. */
export const adopt = (pid: number): void => {
  const cmdline = cmdlineOf(pid)
  if (cmdline !== undefined && !adopted.some((a) => a.pid === pid)) adopted.push({ pid, cmdline })
}

/** Stops every tracked child (newest first, in parallel), then any adopted process still running its original command. */
export const stopAll = async (): Promise<void> => {
  await Promise.all([...tracked].reverse().map(({ child }) => stopChild(child).catch(() => undefined)))
  tracked.length = 0
  await new Promise((r) => setTimeout(r, 200))
  for (const { pid, cmdline } of adopted) {
    if (cmdlineOf(pid) !== cmdline) continue
    try {
      process.kill(pid, "SIGKILL")
    } catch {
      // already gone
    }
  }
  adopted.length = 0
}

/** Synchronous last resort (process 'exit'): SIGKILL whatever is still running. */
export const killAllNow = (): void => {
  for (const { child } of tracked) if (running(child)) child.kill("SIGKILL")
  for (const { pid, cmdline } of adopted) {
    if (cmdlineOf(pid) === cmdline) {
      try {
        process.kill(pid, "SIGKILL")
      } catch {
        // gone
      }
    }
  }
}
