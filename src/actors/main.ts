// Entry point of an actor process (forked by the supervisor): reads its settings from the
// environment, serves until SIGTERM or until its supervisor goes away, then drains and exits 0.
import { Cause, Effect, Schema } from "effect"
import { describeFailure, parentGone, runProcess } from "../lifecycle/runProcess.js"
import { ACTOR_SETTINGS_ENV, ActorSettings } from "../protocol/ipc.js"
import { credentialsFromSupervisor } from "./credentials.js"
import { tellSupervisorBeforeExit } from "./ipc.js"
import { runModelActor } from "./ModelActor.js"

/**
 * Decodes the settings, gets the NATS credentials from the supervisor when they say so, and runs the
 * actor until it is ready; a failure is reported to the supervisor as startFailed.
 */
const start = Schema.decodeUnknownEffect(Schema.fromJsonString(ActorSettings))(
  process.env[ACTOR_SETTINGS_ENV] ?? ""
).pipe(
  Effect.tap((settings) =>
    settings.credentialsOverIpc === true
      ? Effect.flatMap(credentialsFromSupervisor(), (auth) => runModelActor(settings, auth))
      : runModelActor(settings)
  ),
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
      const settings = yield* start
      yield* parentGone
      yield* Effect.logWarning(`actor ${settings.id}: supervisor gone, draining`)
    })
  ),
  // Under a supervisor the cause goes to it (startFailed) and into the log; the supervisor prints the one line.
  { printFailure: process.send === undefined }
)
