// The launcher of actor processes: a service that forks `actors/main` as an actor or as a standby (a
// warm process with no model) and later assigns a standby a slot's model; credentials only over IPC,
// on request; turns IPC messages and exits into signals, and ends a process the OTP way.
import { type ChildProcess, fork } from "node:child_process"
import { fileURLToPath } from "node:url"
import { Context, Deferred, Duration, Effect, Layer, type Scope } from "effect"
import { CREDENTIAL_ENV } from "../../nats/credentials.js"
import type { NatsAuth } from "../../protocol/auth.js"
import {
  ACTOR_SETTINGS_ENV,
  type ActorLaunch,
  type ActorMessage,
  type AssignMessage,
  type CredentialsMessage,
  isActorMessage,
  STANDBY_SETTINGS_ENV,
  type StandbyLaunch
} from "../../protocol/ipc.js"
import { type ExitReason, exitReasonOf, type Shutdown } from "../machine/childSpec.js"
import type { ChildReport } from "../machine/eventsAndCommands.js"
import { actorExecArgv } from "./actorFlags.js"
import type { ChildHandle, ChildSignal } from "./interpreter.js"

/** What a standby tells its pool until it is assigned a slot. */
export type StandbySignal =
  | { readonly _tag: "Ready"; readonly rssBytes: number }
  | { readonly _tag: "Heartbeat"; readonly rssBytes: number }
  | { readonly _tag: "Exited"; readonly reason: ExitReason }

export interface StandbyProcess {
  readonly pid: number | undefined
  /** Ends the standby, gracefully within `shutdown` ms or at once; completes once it is gone. */
  readonly stop: (shutdown: Shutdown) => Effect.Effect<void>
  /**
   * Hands the standby a child slot: it loads that slot's model and from now on signals as that child
   * (in the current scope, which kills it if still alive when it closes, like `launch`). A standby
   * that is already gone signals its exit as the child's.
   */
  readonly assign: (
    settings: ActorLaunch,
    signal: (signal: ChildSignal) => void
  ) => Effect.Effect<ChildHandle, never, Scope.Scope>
}

export class ActorLauncher extends Context.Service<
  ActorLauncher,
  {
    /** Starts an actor process in the current scope (killed, if still alive, when the scope closes). */
    readonly launch: (
      settings: ActorLaunch,
      signal: (signal: ChildSignal) => void
    ) => Effect.Effect<ChildHandle, never, Scope.Scope>
    /** Starts a standby process in the current scope (killed when it closes, unless it was assigned a slot). */
    readonly startStandby: (
      settings: StandbyLaunch,
      signal: (signal: StandbySignal) => void
    ) => Effect.Effect<StandbyProcess, never, Scope.Scope>
  }
>()("modelbus/supervisor/ActorLauncher") {
  /** Forks real processes running `actors/main`. */
  static readonly layer: Layer.Layer<ActorLauncher> = Layer.sync(ActorLauncher, () =>
    ActorLauncher.of({ launch: launchActor, startStandby })
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
    case "standbyReady":
    case "standbyHeartbeat":
      return undefined
  }
}

const standbyReportOf = (message: ActorMessage): StandbySignal | undefined => {
  switch (message.type) {
    case "standbyReady":
      return { _tag: "Ready", rssBytes: message.rssBytes }
    case "standbyHeartbeat":
      return { _tag: "Heartbeat", rssBytes: message.rssBytes }
    default:
      return undefined
  }
}

/** The supervisor's environment without NATS credentials, plus the settings in `variable`; the credentials go over IPC. */
const processEnv = (variable: string, settings: ActorLaunch | StandbyLaunch): NodeJS.ProcessEnv => {
  const env: NodeJS.ProcessEnv = { ...process.env }
  // NATS_URL too: it may hold credentials, and the actor's servers are in its settings
  for (const name of [...CREDENTIAL_ENV, "NATS_URL", ACTOR_SETTINGS_ENV, STANDBY_SETTINGS_ENV]) delete env[name]
  const { auth, ...rest } = settings
  env[variable] = JSON.stringify(overIpc(auth) ? { ...rest, credentialsOverIpc: true } : rest)
  return env
}

const overIpc = (auth: NatsAuth | undefined): auth is NatsAuth => auth !== undefined && Object.keys(auth).length > 0

const alive = (child: ChildProcess) => child.exitCode === null && child.signalCode === null

/** Where a process's reports and its exit go: its pool while it is a standby, its supervisor once it is an actor. */
interface Route {
  readonly message: (message: ActorMessage) => void
  readonly exit: (reason: ExitReason) => void
}

const childRoute = (signal: (signal: ChildSignal) => void): Route => ({
  message: (message) => {
    const report = reportOf(message)
    if (report !== undefined) signal({ _tag: "Reported", report })
  },
  exit: (reason) => signal({ _tag: "Exited", reason })
})

const standbyRoute = (signal: (signal: StandbySignal) => void): Route => ({
  message: (message) => {
    const report = standbyReportOf(message)
    if (report !== undefined) signal(report)
  },
  exit: (reason) => signal({ _tag: "Exited", reason })
})

interface Forked {
  readonly child: ChildProcess
  /** Completes with the exit reason once the process is gone. */
  readonly exited: Deferred.Deferred<ExitReason>
  /** Set as the process exits. */
  exitReason: ExitReason | undefined
  route: Route
  readonly stop: (shutdown: Shutdown) => Effect.Effect<void>
}

/** Forks `actors/main`; its exit goes to its route once, with the cause it reported if it could not start. */
const forkProcess = (env: NodeJS.ProcessEnv, auth: NatsAuth | undefined, route: Route): Effect.Effect<Forked> =>
  Effect.gen(function* () {
    const exited = yield* Deferred.make<ExitReason>()
    let startError: string | undefined
    const child = fork(actorEntry, [], {
      env,
      execArgv: [...actorExecArgv(runningFromSource, process.env.NODE_OPTIONS)],
      stdio: ["ignore", "inherit", "inherit", "ipc"],
      // Its own process group: a terminal's Ctrl-C reaches the supervisor, which drains its actors in order.
      detached: true,
      serialization: "advanced"
    })
    const forked: Forked = {
      child,
      exited,
      exitReason: undefined,
      route,
      stop: (shutdown) => stopProcess(forked, shutdown)
    }
    const finish = (reason: ExitReason) => {
      if (!Deferred.doneUnsafe(exited, Effect.succeed(reason))) return
      forked.exitReason = reason
      forked.route.exit(reason)
    }
    child.once("exit", (code, exitSignal) =>
      finish(startError === undefined ? exitReasonOf(code, exitSignal) : { kind: "startFailed", message: startError })
    )
    child.once("error", (error) => {
      if (child.pid === undefined) finish({ kind: "startFailed", message: error.message })
    })
    child.on("message", (message) => {
      if (!isActorMessage(message)) return
      if (message.type === "startFailed") startError = message.error
      if (message.type === "credentialsRequest" && auth !== undefined && child.connected) {
        const answer: CredentialsMessage = { type: "credentials", auth }
        child.send(answer, undefined, undefined, () => {})
      }
      forked.route.message(message)
    })
    return forked
  })

const stopProcess = (forked: Forked, shutdown: Shutdown): Effect.Effect<void> => {
  const kill = (how: NodeJS.Signals) => Effect.sync(() => alive(forked.child) && forked.child.kill(how))
  const gone = Deferred.await(forked.exited).pipe(Effect.asVoid)
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

/** The process as a child of the current scope: killed when it closes. */
const asChild = (forked: Forked): Effect.Effect<ChildHandle, never, Scope.Scope> =>
  Effect.addFinalizer(() => forked.stop("brutal_kill")).pipe(Effect.as({ pid: forked.child.pid, stop: forked.stop }))

/** Forks one actor. */
const launchActor = (
  settings: ActorLaunch,
  signal: (signal: ChildSignal) => void
): Effect.Effect<ChildHandle, never, Scope.Scope> =>
  forkProcess(processEnv(ACTOR_SETTINGS_ENV, settings), settings.auth, childRoute(signal)).pipe(Effect.flatMap(asChild))

/** Forks one standby; assigning it a slot moves it from its own scope to the slot's. */
const startStandby = (
  settings: StandbyLaunch,
  signal: (signal: StandbySignal) => void
): Effect.Effect<StandbyProcess, never, Scope.Scope> =>
  Effect.gen(function* () {
    const forked = yield* forkProcess(processEnv(STANDBY_SETTINGS_ENV, settings), settings.auth, standbyRoute(signal))
    let assigned = false
    yield* Effect.addFinalizer(() => (assigned ? Effect.void : forked.stop("brutal_kill")))
    const assign = ({ auth: _, ...actor }: ActorLaunch, childSignal: (signal: ChildSignal) => void) =>
      Effect.suspend(() => {
        assigned = true
        forked.route = childRoute(childSignal)
        if (forked.exitReason !== undefined) {
          // it exited before it could be told: its exit is the child's
          forked.route.exit(forked.exitReason)
        } else if (forked.child.connected) {
          // the credentials it connected with stay where they are: never sent again
          const message: AssignMessage = { type: "assign", settings: actor }
          forked.child.send(message, undefined, undefined, () => {})
        }
        return asChild(forked)
      })
    return { pid: forked.child.pid, stop: forked.stop, assign }
  })
