// What an actor process sets up before it has a model: the tracer, the TensorFlow.js runtime with
// its backend, the NATS connection and the registry; done at once by an actor, ahead of time by a standby.
import type { NatsConnection } from "@nats-io/transport-node"
import { Effect, type Scope, type Tracer } from "effect"
import { initRuntime, type Runtime, requestedBackend } from "../model/runtime.js"
import { natsConnection } from "../nats/connection.js"
import type { NatsAuth } from "../protocol/auth.js"
import type { StandbySettings } from "../protocol/ipc.js"
import { openRegistry, type Registry } from "../registry/Registry.js"
import type { PreparationError } from "./startErrors.js"
import { otlpTracer } from "./tracing.js"

export interface PreparedActor {
  readonly runtime: Runtime
  readonly nc: NatsConnection
  /** The registry when the settings ask for it (JetStream). */
  readonly registry: Registry | undefined
  readonly tracer: Tracer.Tracer | undefined
}

/** Sets up everything but the model, for as long as the scope is open (the connection drains when it closes). */
export const prepareActor = Effect.fnUntraced(function* (
  settings: StandbySettings,
  auth?: NatsAuth
): Effect.fn.Return<PreparedActor, PreparationError, Scope.Scope> {
  const tracer = yield* otlpTracer(process.env)
  const runtime = yield* initRuntime(yield* requestedBackend(process.env))
  const nc = yield* natsConnection({
    servers: settings.servers,
    name: `modelbus-actor ${settings.id}`,
    ...(auth === undefined ? {} : { auth })
  })
  const registry =
    settings.registry === true
      ? yield* openRegistry(nc, {
          prefix: settings.prefix,
          ...(settings.retention === undefined ? {} : { retention: settings.retention })
        })
      : undefined
  return { runtime, nc, registry, tracer }
})
