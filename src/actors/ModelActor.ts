// A model actor's life: connect to NATS, load the model once, serve its infer subject in the
// model's queue group, heartbeat to the supervisor, and drain in-flight requests on shutdown.
import type { Msg, NatsConnection, Subscription } from "@nats-io/transport-node"
import { Effect, type Scope } from "effect"
import { loadModel } from "../model/loader.js"
import type { NatsAuth } from "../protocol/auth.js"
import {
  type ActorCounters,
  type ActorSettings,
  DEFAULT_BATCHING,
  DEFAULT_MAX_INFLIGHT,
  type ProcessState
} from "../protocol/ipc.js"
import { subjects } from "../protocol/subjects.js"
import type { Registry } from "../registry/Registry.js"
import { makeBatcher } from "./batcher.js"
import { batchSizer } from "./batchLimit.js"
import { answerDiscovery } from "./discovery.js"
import { answerFit } from "./fit.js"
import { actorIdentity } from "./identity.js"
import { tellSupervisor } from "./ipc.js"
import { type Measurements, makeMeasurements, snapshot } from "./measurements.js"
import { answerInfer, type PipelineContext } from "./pipeline.js"
import { type PreparedActor, prepareActor } from "./preparation.js"
import { type ServingModel, servingModel } from "./servingModel.js"
import { type ActorStats, actorStats } from "./stats.js"
import { followUpdates, startingVersion } from "./updates.js"

/** What to do after requests are answered (rejoin the queue group, finish a drain); set by `serve`. */
interface AnsweredHook {
  run: () => void
}

const countersOf = (
  stats: ActorStats,
  version: number,
  loads: number,
  tensors: number,
  measure: Measurements | undefined
): ActorCounters => ({
  version,
  loads,
  served: stats.served,
  errors: stats.errors,
  inflight: stats.inflight,
  calls: stats.calls,
  tensors,
  rssBytes: process.memoryUsage.rss(),
  batching: stats.batchLimit,
  ...(measure === undefined ? {} : { metrics: snapshot(measure) })
})

/**
 * Subscribes in the model's queue group; a saturated actor leaves the group (so NATS routes around
 * it) and rejoins when it has room. On release: stop taking requests, finish those in flight.
 */
const serve = (
  nc: NatsConnection,
  ctx: PipelineContext,
  settings: ActorSettings,
  counters: () => ActorCounters,
  answered: AnsweredHook
) =>
  Effect.acquireRelease(
    Effect.sync(() => {
      const s = subjects(settings.prefix)
      const rejoinAt = Math.floor(ctx.maxInflight * 0.75)
      let sub: Subscription | undefined
      let closing = false
      let drained: (() => void) | undefined
      answered.run = () => {
        if (closing) {
          if (ctx.stats.inflight === 0) drained?.()
        } else if (sub === undefined && ctx.stats.inflight <= rejoinAt) join()
      }
      const onMessage = (error: Error | null, msg: Msg) => {
        if (error !== null) return
        answerInfer(ctx, msg)
        if (sub !== undefined && ctx.stats.inflight >= ctx.maxInflight) {
          const full = sub
          sub = undefined
          void full.drain().catch(() => undefined)
        }
      }
      const join = () => {
        sub = nc.subscribe(s.infer(settings.model), { queue: s.inferQueue(settings.model), callback: onMessage })
      }
      join()
      const presence = nc.subscribe(s.presence(settings.model), {
        queue: s.presence(settings.model),
        callback: (error, msg) => {
          if (error === null)
            msg.respond(JSON.stringify({ actor: settings.id, inflight: ctx.stats.inflight, joined: sub !== undefined }))
        }
      })
      /** Stops taking requests, then resolves once every accepted one has been answered. */
      return async () => {
        closing = true
        await Promise.all([sub?.drain().catch(() => undefined), presence.drain().catch(() => undefined)])
        if (ctx.stats.inflight > 0) await new Promise<void>((resolve) => (drained = resolve))
      }
    }),
    (stop) =>
      Effect.gen(function* () {
        tellSupervisor({ type: "draining", counters: counters() })
        yield* Effect.promise(stop)
        // the counters of the requests answered while draining
        tellSupervisor({ type: "heartbeat", state: "draining", counters: counters() })
      })
  )

/** Loads the model this actor starts with: the registry's current version, else the config's path. */
const initialModel = (settings: ActorSettings, registry: Registry | undefined) =>
  registry === undefined
    ? loadModel(settings.path, {}, settings.onnx ?? {}).pipe(
        Effect.map((model) => ({ model, version: settings.version }))
      )
    : startingVersion(registry, settings)

/**
 * Runs one actor until its scope closes; heartbeats start before the model loads. A standby hands
 * over what it `prepared` (runtime, connection, registry); a fresh actor sets them up here.
 */
export const runModelActor = Effect.fn("ModelActor.run")(function* (
  settings: ActorSettings,
  auth?: NatsAuth,
  prepared?: PreparedActor
): Effect.fn.Return<void, unknown, Scope.Scope> {
  const stats = actorStats()
  const life = {
    state: "starting" as ProcessState,
    serving: undefined as ServingModel | undefined,
    tensors: () => 0
  }
  const measure = settings.metrics === true ? makeMeasurements() : undefined
  const counters = () =>
    countersOf(
      stats,
      life.serving?.current.version ?? settings.version,
      life.serving?.loads ?? 0,
      life.tensors(),
      measure
    )
  yield* Effect.forkScoped(
    Effect.sync(() => tellSupervisor({ type: "heartbeat", state: life.state, counters: counters() })).pipe(
      Effect.andThen(Effect.sleep(settings.heartbeatMs)),
      Effect.forever
    )
  )
  const { runtime, nc, registry, tracer } = prepared ?? (yield* prepareActor(settings, auth))
  life.tensors = () => runtime.tf.memory().numTensors
  const started = performance.now()
  const first = yield* initialModel(settings, registry)
  const loadMs = performance.now() - started
  const serving = servingModel(first.model, first.version)
  life.serving = serving
  yield* Effect.addFinalizer(() => Effect.sync(() => serving.current.model.dispose()))
  const answered: AnsweredHook = { run: () => {} }
  const batchable = () => {
    const { inputs, outputs } = serving.current.model.signature
    return [...inputs, ...outputs].every((t) => t.shape[0] === null)
  }
  const ctx: PipelineContext = {
    actorId: settings.id,
    modelName: settings.model,
    serving,
    maxPayloadBytes: settings.maxPayloadBytes ?? nc.info?.max_payload ?? 1024 * 1024,
    maxInflight: settings.maxInflight ?? DEFAULT_MAX_INFLIGHT,
    stats,
    measure,
    tracer,
    batcher: makeBatcher(
      {
        actorId: settings.id,
        modelName: settings.model,
        serving,
        stats,
        onAnswered: () => answered.run(),
        measure,
        tracer
      },
      settings.batching ?? DEFAULT_BATCHING,
      batchable
    )
  }
  const sizer = yield* batchSizer({ ...ctx, options: settings.batching ?? DEFAULT_BATCHING })
  yield* serve(
    nc,
    ctx,
    settings,
    () => {
      life.state = "draining"
      return counters()
    },
    answered
  )
  // acquired after `serve`, so released before it: an actor leaves discovery as it starts draining
  yield* answerDiscovery(
    nc,
    actorIdentity({ model: settings.model, actor: settings.id, backend: runtime.backend, prefix: settings.prefix }),
    serving,
    stats
  )
  if (registry !== undefined) {
    yield* followUpdates(nc, registry, serving, settings, () => {
      sizer.measure()
      tellSupervisor({ type: "heartbeat", state: life.state, counters: counters() })
    })
    yield* answerFit(nc, registry, serving, settings)
  }
  yield* Effect.promise(() => nc.flush())
  life.state = "serving"
  tellSupervisor({ type: "ready", backend: runtime.backend, loadMs, counters: counters() })
  sizer.measure()
  yield* Effect.logInfo(
    `actor ${settings.id} serving ${settings.model} v${first.version} on ${runtime.backend} (loaded in ${loadMs.toFixed(0)} ms)`
  )
})
