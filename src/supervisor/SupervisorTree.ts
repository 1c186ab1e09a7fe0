// The root of the process tree: one ModelSupervisor per configured model, started in order and
// stopped in reverse, plus the `status` responder; it fails when a model supervisor gives up.
import { hostname } from "node:os"
import { Effect, type Scope } from "effect"
import { natsConnection } from "../nats/connection.js"
import { CONTENT_TYPE_HEADER, encodingOf, serialize } from "../protocol/codec.js"
import type { ConnectionError } from "../protocol/errors.js"
import type { SupervisorStatus } from "../protocol/messages.js"
import { subjects } from "../protocol/subjects.js"
import type { Config } from "./config.js"
import { type IntensityExceeded, type ModelSupervisor, startModelSupervisor } from "./ModelSupervisor.js"

export interface SupervisorTree {
  readonly id: string
  readonly models: ReadonlyArray<ModelSupervisor>
  readonly status: () => SupervisorStatus
  /** Completes once every replica of every model has served. */
  readonly serving: Effect.Effect<void>
  /** Fails with the first model supervisor that gives up. */
  readonly failure: Effect.Effect<never, IntensityExceeded>
}

const newSupervisorId = () => Math.random().toString(36).slice(2, 8).padEnd(6, "0")

/** Starts the tree; closing the scope drains every actor and disconnects. */
export const startSupervisorTree = Effect.fn("SupervisorTree.start")(function*(
  config: Config,
  servers: string | ReadonlyArray<string>
): Effect.fn.Return<SupervisorTree, ConnectionError, Scope.Scope> {
  const id = newSupervisorId()
  const subject = subjects(config.prefix)
  const nc = yield* natsConnection({ servers, name: `modelbus-supervisor ${id}` })
  const ctx = {
    supervisorId: id,
    servers,
    prefix: config.prefix,
    strategy: config.strategy,
    policy: { intensity: config.intensity, periodMs: config.periodMs }
  }
  const models: Array<ModelSupervisor> = []
  for (const model of config.models) models.push(yield* startModelSupervisor(model, ctx))

  const status = (): SupervisorStatus => ({
    supervisor: { id, pid: process.pid, host: hostname() },
    actors: models.flatMap((m) => m.status())
  })
  yield* Effect.acquireRelease(
    Effect.sync(() =>
      nc.subscribe(subject.status, {
        callback: (error, msg) => {
          if (error !== null || !msg.reply) return
          const encoding = encodingOf(msg.headers?.get(CONTENT_TYPE_HEADER) || undefined)
          msg.respond(serialize(status(), encoding))
        }
      })
    ),
    (sub) => Effect.sync(() => sub.unsubscribe())
  )
  return {
    id,
    models,
    status,
    serving: Effect.all(models.map((m) => m.serving), { discard: true }),
    failure: Effect.raceAllFirst(models.map((m) => m.failure))
  }
})
