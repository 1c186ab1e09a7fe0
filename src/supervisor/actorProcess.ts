// Forking one actor process and ending it the OTP way: SIGTERM and wait up to the child's
// shutdown time, then SIGKILL; or SIGKILL at once for `brutal_kill`.
import { type ChildProcess, fork } from "node:child_process"
import { fileURLToPath } from "node:url"
import { ACTOR_SETTINGS_ENV, type ActorMessage, type ActorSettings, isActorMessage } from "../protocol/ipc.js"
import { type ExitReason, exitReasonOf, type Shutdown } from "./childSpec.js"

export interface ActorProcess {
  readonly pid: number
  /** Resolves with how the process ended, whoever ended it. */
  readonly exited: Promise<ExitReason>
  /** Asks the process to drain and waits `shutdown` ms before killing it; resolves once it is gone. */
  readonly stop: (shutdown: Shutdown) => Promise<ExitReason>
}

const here = import.meta.url
const runningFromSource = here.endsWith(".ts")
const actorEntry = fileURLToPath(new URL(`../actors/main.${runningFromSource ? "ts" : "js"}`, here))

/** Forks an actor; `onMessage` receives its IPC messages, `onExit` how it ended. */
export const forkActor = (settings: ActorSettings, onMessage: (message: ActorMessage) => void): ActorProcess => {
  const child: ChildProcess = fork(actorEntry, [], {
    env: { ...process.env, [ACTOR_SETTINGS_ENV]: JSON.stringify(settings) },
    execArgv: runningFromSource ? ["--import", "tsx"] : [],
    stdio: ["ignore", "inherit", "inherit", "ipc"],
    // Its own process group: a terminal's Ctrl-C reaches the supervisor, which drains its actors in order.
    detached: true,
    serialization: "advanced"
  })
  const exited = new Promise<ExitReason>((resolve) => {
    child.once("exit", (code, signal) => resolve(exitReasonOf(code, signal)))
    child.once("error", (error) => {
      if (child.pid === undefined) resolve({ kind: "startFailed", message: error.message })
    })
  })
  child.on("message", (message) => {
    if (isActorMessage(message)) onMessage(message)
  })
  const stop = (shutdown: Shutdown): Promise<ExitReason> => {
    if (child.exitCode !== null || child.signalCode !== null) return exited
    if (shutdown === "brutal_kill") {
      child.kill("SIGKILL")
      return exited
    }
    child.kill("SIGTERM")
    const timer = setTimeout(() => child.kill("SIGKILL"), shutdown)
    return exited.finally(() => clearTimeout(timer))
  }
  return { pid: child.pid ?? -1, exited, stop }
}
