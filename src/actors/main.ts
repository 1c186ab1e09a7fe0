// Entry point of an actor process (forked by the supervisor): reads its settings from the
// environment, serves until SIGTERM or until its supervisor goes away, then drains and exits 0.
import { Effect, Schema } from "effect"
import { parentGone, runProcess } from "../lifecycle/runProcess.js"
import { ACTOR_SETTINGS_ENV, ActorSettings } from "../protocol/ipc.js"
import { runModelActor } from "./ModelActor.js"

const settings = Schema.decodeUnknownSync(Schema.fromJsonString(ActorSettings))(process.env[ACTOR_SETTINGS_ENV] ?? "")

runProcess(
  Effect.scoped(
    Effect.gen(function* () {
      yield* runModelActor(settings)
      yield* parentGone
      yield* Effect.logWarning(`actor ${settings.id}: supervisor gone, draining`)
    })
  )
)
