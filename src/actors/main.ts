// Entry point of an actor process (forked by the supervisor): reads its settings from the environment
// (an actor's, or a standby's that waits for a model), serves until SIGTERM or until its supervisor goes
// away, then drains and exits 0.
import { Cause, Effect, Schema, type Scope } from "effect"
import { describeFailure, runProcess } from "../lifecycle/runProcess.js"
import type { NatsAuth } from "../protocol/auth.js"
import { ACTOR_SETTINGS_ENV, ActorSettings, STANDBY_SETTINGS_ENV, StandbySettings } from "../protocol/ipc.js"
import { type CredentialsUnavailable, credentialsFromSupervisor } from "./credentials.js"
import { runModelActor } from "./ModelActor.js"
import { runStandby } from "./standby.js"
import type { ActorProcessStartError } from "./startErrors.js"
import { supervisorGone, tellSupervisorBeforeExit } from "./supervisorChannel.js"

/** The NATS credentials from the supervisor when the settings say so. */
const credentials = (settings: {
  readonly credentialsOverIpc?: boolean | undefined
}): Effect.Effect<NatsAuth | undefined, CredentialsUnavailable> =>
  settings.credentialsOverIpc === true ? credentialsFromSupervisor() : Effect.succeed(undefined)

/** Runs an actor, or a standby until it is assigned one; completes with the id it serves as (undefined: none). */
const startFromEnvironment = (): Effect.Effect<string | undefined, ActorProcessStartError, Scope.Scope> => {
  const standby = process.env[STANDBY_SETTINGS_ENV]
  if (standby !== undefined) {
    return Schema.decodeUnknownEffect(Schema.fromJsonString(StandbySettings))(standby).pipe(
      Effect.flatMap((settings) => Effect.flatMap(credentials(settings), (auth) => runStandby(settings, auth))),
      Effect.map((assigned) => assigned?.id)
    )
  }
  return Schema.decodeUnknownEffect(Schema.fromJsonString(ActorSettings))(process.env[ACTOR_SETTINGS_ENV] ?? "").pipe(
    Effect.tap((settings) => Effect.flatMap(credentials(settings), (auth) => runModelActor(settings, auth))),
    Effect.map((settings) => settings.id)
  )
}

/** Runs until ready; a failure is reported to the supervisor as startFailed. */
const start = Effect.suspend(startFromEnvironment).pipe(
  Effect.tapCause((cause) =>
    Cause.hasInterruptsOnly(cause)
      ? Effect.void
      : tellSupervisorBeforeExit({ type: "startFailed", error: describeFailure(cause) }).pipe(
          Effect.andThen(Effect.logError(`actor could not start: ${describeFailure(cause)}`))
        )
  )
)

runProcess(
  Effect.scoped(
    Effect.gen(function* () {
      const id = yield* start
      if (id === undefined) return
      yield* supervisorGone
      yield* Effect.logWarning(`actor ${id}: supervisor gone, draining`)
    })
  ),
  // Under a supervisor the cause goes to it (startFailed) and into the log; the supervisor prints the one line.
  { printFailure: process.send === undefined }
)
