// A standby actor process: sets up the runtime and the NATS connection ahead of time, reports ready
// and its memory, and waits (subscribed to nothing) until its supervisor assigns it a model to serve.
import { Deferred, Effect, Fiber, Schema, type Scope } from "effect"
import type { NatsAuth } from "../protocol/auth.js"
import { type ActorSettings, AssignMessage, type StandbySettings } from "../protocol/ipc.js"
import { runModelActor } from "./ModelActor.js"
import { prepareActor } from "./preparation.js"
import type { ActorStartError } from "./startErrors.js"
import { supervisorGone, tellSupervisor } from "./supervisorChannel.js"

const isAssign = Schema.is(AssignMessage)

/** The settings of the first `assign` the supervisor sends, from the moment this runs (the listener leaves with the scope). */
const assignments = Effect.gen(function* () {
  const assigned = yield* Deferred.make<ActorSettings>()
  yield* Effect.acquireRelease(
    Effect.sync(() => {
      const onMessage = (message: unknown) => {
        if (isAssign(message)) Deferred.doneUnsafe(assigned, Effect.succeed(message.settings))
      }
      process.on("message", onMessage)
      return onMessage
    }),
    (onMessage) => Effect.sync(() => process.removeListener("message", onMessage))
  )
  return Deferred.await(assigned)
})

/**
 * Runs a standby until it is assigned a model, then as that actor until the scope closes; completes
 * with the actor's settings once it serves, or with undefined when the supervisor went away first.
 */
export const runStandby = Effect.fn("Standby.run")(function* (
  settings: StandbySettings,
  auth?: NatsAuth
): Effect.fn.Return<ActorSettings | undefined, ActorStartError, Scope.Scope> {
  const assigned = yield* assignments
  const prepared = yield* prepareActor(settings, auth)
  const rssBytes = () => process.memoryUsage.rss()
  tellSupervisor({ type: "standbyReady", backend: prepared.runtime.backend, rssBytes: rssBytes() })
  const heartbeats = yield* Effect.forkChild(
    Effect.sleep(settings.heartbeatMs).pipe(
      Effect.andThen(Effect.sync(() => tellSupervisor({ type: "standbyHeartbeat", rssBytes: rssBytes() }))),
      Effect.forever
    )
  )
  yield* Effect.logInfo(`standby ${settings.id} ready on ${prepared.runtime.backend}`)
  const next = yield* Effect.raceFirst(assigned, supervisorGone.pipe(Effect.as(undefined)))
  yield* Fiber.interrupt(heartbeats)
  if (next === undefined) return undefined
  yield* runModelActor(next, undefined, prepared)
  return next
})
