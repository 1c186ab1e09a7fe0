// A model actor's life: connect to NATS, load the model once, serve its infer subject in the
// model's queue group, heartbeat to the supervisor, and drain in-flight requests on shutdown.
import type { NatsConnection, Subscription } from "@nats-io/transport-node"
import { Effect, type Scope } from "effect"
import { loadModel } from "../model/loader.js"
import { openRegistry, type Registry } from "../registry/Registry.js"
import { answerFit } from "./fit.js"
import { type ServingModel, servingModel } from "./servingModel.js"
import { currentVersion, followUpdates, loadVersion } from "./updates.js"
import { initRuntime, requestedBackend } from "../model/runtime.js"
import { natsConnection } from "../nats/connection.js"
import { subjects } from "../protocol/subjects.js"
import { type ActorCounters, type ActorSettings, tellSupervisor } from "./ipc.js"
import { type ActorStats, answerInfer, type PipelineContext } from "./pipeline.js"

const countersOf = (stats: ActorStats, version: number, loads: number, tensors: number): ActorCounters => ({
  version,
  loads,
  served: stats.served,
  errors: stats.errors,
  inflight: stats.inflight,
  tensors,
  rssBytes: process.memoryUsage.rss()
})

/** Resolves when every request this actor accepted has been answered. */
const inflightSettled = (pending: Set<Promise<void>>) =>
  Effect.promise(async () => {
    while (pending.size > 0) await Promise.all(pending)
  })

/** Subscribes in the queue group; on release: stop taking requests, finish those in flight. */
const serve = (nc: NatsConnection, ctx: PipelineContext, settings: ActorSettings, counters: () => ActorCounters) =>
  Effect.acquireRelease(
    Effect.sync(() => {
      const pending = new Set<Promise<void>>()
      const s = subjects(settings.prefix)
      const sub: Subscription = nc.subscribe(s.infer(settings.model), {
        queue: s.inferQueue(settings.model),
        callback: (error, msg) => {
          if (error !== null) return
          const answered = answerInfer(ctx, msg)
          pending.add(answered)
          void answered.finally(() => pending.delete(answered))
        }
      })
      return { sub, pending }
    }),
    ({ sub, pending }) =>
      Effect.gen(function*() {
        tellSupervisor({ type: "draining", counters: counters() })
        yield* Effect.promise(() => sub.drain().catch(() => undefined))
        yield* inflightSettled(pending)
      })
  )

/** Loads the model this actor starts with: the registry's current version, else the config's path. */
const initialModel = (settings: ActorSettings, registry: Registry | undefined) =>
  registry === undefined
    ? loadModel(settings.path).pipe(Effect.map((model) => ({ model, version: settings.version })))
    : currentVersion(registry, settings).pipe(
      Effect.flatMap((entry) => loadVersion(registry, settings.model, entry).pipe(Effect.map((model) => ({ model, version: entry.version }))))
    )

/** Runs one actor until its scope closes; heartbeats start before the model loads. */
export const runModelActor = Effect.fn("ModelActor.run")(function*(settings: ActorSettings): Effect.fn.Return<void, unknown, Scope.Scope> {
  const stats: ActorStats = { served: 0, errors: 0, inflight: 0 }
  const life = { state: "starting" as "starting" | "serving" | "draining", serving: undefined as ServingModel | undefined, tensors: () => 0 }
  const counters = () => countersOf(stats, life.serving?.current.version ?? settings.version, life.serving?.loads ?? 0, life.tensors())
  yield* Effect.forkScoped(
    Effect.sync(() => tellSupervisor({ type: "heartbeat", state: life.state, counters: counters() })).pipe(
      Effect.andThen(Effect.sleep(settings.heartbeatMs)),
      Effect.forever
    )
  )
  const runtime = yield* initRuntime(yield* requestedBackend(process.env))
  life.tensors = () => runtime.tf.memory().numTensors
  const nc = yield* natsConnection({ servers: settings.servers, name: `modelbus-actor ${settings.id}` })
  const registry = settings.registry === true
    ? yield* openRegistry(nc, { prefix: settings.prefix, ...(settings.retention === undefined ? {} : { retention: settings.retention }) })
    : undefined
  const started = performance.now()
  const first = yield* initialModel(settings, registry)
  const loadMs = performance.now() - started
  const serving = servingModel(first.model, first.version)
  life.serving = serving
  yield* Effect.addFinalizer(() => Effect.sync(() => serving.current.model.dispose()))
  const ctx: PipelineContext = {
    actorId: settings.id,
    modelName: settings.model,
    serving,
    maxPayloadBytes: settings.maxPayloadBytes ?? nc.info?.max_payload ?? 1024 * 1024,
    stats
  }
  yield* serve(nc, ctx, settings, () => {
    life.state = "draining"
    return counters()
  })
  const log = Effect.runSyncWith(yield* Effect.context<never>())
  if (registry !== undefined) {
    yield* followUpdates(nc, registry, serving, settings, (message) => log(Effect.logInfo(message)))
    yield* answerFit(nc, registry, serving, settings)
  }
  yield* Effect.promise(() => nc.flush())
  life.state = "serving"
  tellSupervisor({ type: "ready", backend: runtime.backend, loadMs, counters: counters() })
  yield* Effect.logInfo(`actor ${settings.id} serving ${settings.model} v${first.version} on ${runtime.backend} (loaded in ${loadMs.toFixed(0)} ms)`)
})
