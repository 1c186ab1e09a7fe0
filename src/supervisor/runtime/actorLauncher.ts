// The launcher of actor processes: a service that forks `actors/main` with its settings (credentials
// only over IPC, on request), turns its IPC messages and exit into child signals, and ends it the OTP way.
import { type ChildProcess, fork } from "node:child_process"
import { fileURLToPath } from "node:url"
import { Context, Deferred, Duration, Effect, Layer, type Scope } from "effect"
import { CREDENTIAL_ENV } from "../../nats/credentials.js"
import {
  ACTOR_SETTINGS_ENV,
  type ActorLaunch,
  type ActorMessage,
  type CredentialsMessage,
  isActorMessage
} from "../../protocol/ipc.js"
import { type ExitReason, exitReasonOf, type Shutdown } from "../childSpec.js"
import type { ChildReport } from "../machine/protocol.js"
import type { ChildHandle, ChildSignal } from "./interpreter.js"

export class ActorLauncher extends Context.Service<
  ActorLauncher,
  {
    /** Starts an actor process in the current scope (killed, if still alive, when the scope closes). */
    readonly launch: (
      settings: ActorLaunch,
      signal: (signal: ChildSignal) => void
    ) => Effect.Effect<ChildHandle, never, Scope.Scope>
  }
>()("modelbus/supervisor/ActorLauncher") {
  /** Forks real processes running `actors/main`. */
  static readonly layer: Layer.Layer<ActorLauncher> = Layer.sync(ActorLauncher, () =>
    ActorLauncher.of({ launch: (settings, signal) => forkActor(settings, signal) })
  )
}

const here = import.meta.url
const runningFromSource = here.endsWith(".ts")
const actorEntry = fileURLToPath(new URL(`../../actors/main.${runningFromSource ? "ts" : "js"}`, here))

const reportOf = (message: ActorMessage): ChildReport | undefined => {
  switch (message.type) {
    case "ready":
      return { _tag: "Ready", loadMs: message.loadMs, counters: message.counters }
    case "heartbeat":
      return { _tag: "Heartbeat", state: message.state, counters: message.counters }
    case "draining":
      return { _tag: "Draining", counters: message.counters }
    case "startFailed":
    case "credentialsRequest":
      return undefined
  }
}

/** The supervisor's environment without NATS credentials: an actor gets them over IPC. */
const actorEnv = (settings: ActorLaunch): NodeJS.ProcessEnv => {
  const env: NodeJS.ProcessEnv = { ...process.env }
  // NATS_URL too: it may hold credentials, and the actor's servers are in its settings
  for (const name of [...CREDENTIAL_ENV, "NATS_URL"]) delete env[name]
  const { auth, ...rest } = settings
  const overIpc = auth !== undefined && Object.keys(auth).length > 0
  env[ACTOR_SETTINGS_ENV] = JSON.stringify(overIpc ? { ...rest, credentialsOverIpc: true } : rest)
  return env
}

const alive = (child: ChildProcess) => child.exitCode === null && child.signalCode === null

/** Forks one actor; its exit is signalled once, with the cause it reported if it could not start. */
const forkActor = (
  settings: ActorLaunch,
  signal: (signal: ChildSignal) => void
): Effect.Effect<ChildHandle, never, Scope.Scope> =>
  Effect.gen(function* () {
    const exited = yield* Deferred.make<ExitReason>()
    let startError: string | undefined
    const finish = (reason: ExitReason) => {
      if (Deferred.doneUnsafe(exited, Effect.succeed(reason))) signal({ _tag: "Exited", reason })
    }
    const child = yield* Effect.sync(() => {
      const forked = fork(actorEntry, [], {
        env: actorEnv(settings),
        execArgv: runningFromSource ? ["--import", "tsx"] : [],
        stdio: ["ignore", "inherit", "inherit", "ipc"],
        // Its own process group: a terminal's Ctrl-C reaches the supervisor, which drains its actors in order.
        detached: true,
        serialization: "advanced"
      })
      forked.once("exit", (code, exitSignal) =>
        finish(startError === undefined ? exitReasonOf(code, exitSignal) : { kind: "startFailed", message: startError })
      )
      forked.once("error", (error) => {
        if (forked.pid === undefined) finish({ kind: "startFailed", message: error.message })
      })
      forked.on("message", (message) => {
        if (!isActorMessage(message)) return
        if (message.type === "startFailed") startError = message.error
        if (message.type === "credentialsRequest" && settings.auth !== undefined && forked.connected) {
          const answer: CredentialsMessage = { type: "credentials", auth: settings.auth }
          forked.send(answer, undefined, undefined, () => {})
        }
        const report = reportOf(message)
        if (report !== undefined) signal({ _tag: "Reported", report })
      })
      return forked
    })
    const kill = (how: NodeJS.Signals) => Effect.sync(() => alive(child) && child.kill(how))
    const gone = Deferred.await(exited).pipe(Effect.asVoid)
    const stop = (shutdown: Shutdown): Effect.Effect<void> => {
      if (shutdown === "brutal_kill") return kill("SIGKILL").pipe(Effect.andThen(gone))
      const graceful = kill("SIGTERM").pipe(Effect.andThen(gone))
      if (shutdown === "infinity") return graceful
      return graceful.pipe(
        Effect.timeoutOrElse({
          duration: Duration.millis(shutdown),
          orElse: () => kill("SIGKILL").pipe(Effect.andThen(gone))
        })
      )
    }
    yield* Effect.addFinalizer(() => stop("brutal_kill"))
    return { pid: child.pid, stop }
  })
