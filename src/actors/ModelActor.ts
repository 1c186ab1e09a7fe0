// A model actor's life: connect to NATS, load the model once, serve its infer subject in the
// model's queue group (and its own subject, for retries and hedges sent to it), heartbeat to the
// supervisor, and drain in-flight requests on shutdown.
import type { Msg, NatsConnection, Subscription } from "@nats-io/transport-node"
import { Cause, Effect, type Scope } from "effect"
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
import { type Admission, makeAdmission, type QueueGroup } from "./admission.js"
import { makeBatcher } from "./batcher.js"
import { batchSizer } from "./batchLimit.js"
import { followBatchWork } from "./batchWork.js"
import { followCanary } from "./canary/follow.js"
import { answerDiscovery } from "./discovery.js"
import { answerFit } from "./fitResponder.js"
import { actorIdentity } from "./identity.js"
import { type Measurements, makeMeasurements, snapshot } from "./measurements.js"
import { makeModelLoop } from "./modelLoop.js"
import { answerInfer, type PipelineContext } from "./pipeline.js"
import { type PreparedActor, prepareActor } from "./preparation.js"
import { type ServingModel, servingModel } from "./servingModel.js"
import type { ActorStartError } from "./startErrors.js"
import { type ActorStats, actorStats } from "./stats.js"
import { tellSupervisor } from "./supervisorChannel.js"
import { followUpdates, startingVersion } from "./updates.js"

const countersOf = (
  stats: ActorStats,
  admission: Admission,
  version: number,
  loads: number,
  tensors: number,
  queued: number,
  measure: Measurements | undefined
): ActorCounters => {
  const held = admission.counters()
  return {
    version,
    loads,
    served: stats.served,
    errors: stats.errors,
    inflight: held.inflight,
    queued,
    overloaded: held.overloaded,
    leftQueueGroup: held.leftQueueGroup,
    calls: stats.calls,
    tensors,
    rssBytes: process.memoryUsage.rss(),
    batching: stats.batchLimit,
    ...(measure === undefined ? {} : { metrics: snapshot(measure) })
  }
}

/**
 * Serves the infer subject in the model's queue group, admission deciding when the actor is in it (a
 * full actor leaves, so NATS routes around it), and the actor's own infer subject through the same
 * admission (a full actor refuses there with Overloaded). On release: leave both, and answer every
 * request taken.
 */
const serve = (
  nc: NatsConnection,
  ctx: PipelineContext,
  admission: Admission,
  settings: ActorSettings,
  counters: () => ActorCounters
) =>
  Effect.acquireRelease(
    Effect.sync(() => {
      const s = subjects(settings.prefix)
      const onMessage = (error: Error | null, msg: Msg) => {
        if (error === null) answerInfer(ctx, msg)
      }
      let sub: Subscription | undefined
      const group: QueueGroup = {
        join: () => {
          sub = nc.subscribe(s.infer(settings.model), { queue: s.inferQueue(settings.model), callback: onMessage })
        },
        leave: () => {
          const leaving = sub
          sub = undefined
          return leaving === undefined ? Promise.resolve() : leaving.drain().catch(() => undefined)
        }
      }
      admission.open(group)
      // shared as a queue group by the processes of one actor id (a replacement starts before the old one leaves)
      const own = s.inferActor(settings.model, settings.id)
      const direct = nc.subscribe(own, { queue: own, callback: onMessage })
      const presence = nc.subscribe(s.presence(settings.model), {
        queue: s.presence(settings.model),
        callback: (error, msg) => {
          if (error === null)
            msg.respond(
              JSON.stringify({ actor: settings.id, inflight: admission.inflight(), joined: admission.joined() })
            )
        }
      })
      /** Stops taking requests, then resolves once every accepted one has been answered. */
      return async () => {
        await Promise.all([
          admission.drain(),
          direct.drain().catch(() => undefined),
          presence.drain().catch(() => undefined)
        ])
        // a request the own subject delivered while it drained is answered too
        if (!admission.idle())
          await new Promise<void>((resolve) => {
            const stop = admission.onIdle(() => {
              stop()
              resolve()
            })
          })
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
): Effect.fn.Return<void, ActorStartError, Scope.Scope> {
  const stats = actorStats()
  const admission = makeAdmission(settings.maxInflight ?? DEFAULT_MAX_INFLIGHT)
  const life = {
    state: "starting" as ProcessState,
    serving: undefined as ServingModel | undefined,
    tensors: () => 0,
    queued: () => 0
  }
  const measure = settings.metrics === true ? makeMeasurements() : undefined
  const counters = () =>
    countersOf(
      stats,
      admission,
      life.serving?.current.version ?? settings.version,
      life.serving?.loads ?? 0,
      life.tensors(),
      life.queued(),
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
  const logWith = Effect.runForkWith(yield* Effect.context<never>())
  const batcher = makeBatcher(stats, settings.batching ?? DEFAULT_BATCHING)
  const loop = makeModelLoop(
    {
      actorId: settings.id,
      modelName: settings.model,
      serving,
      stats,
      measure,
      tracer,
      admission,
      logDefect: (message, cause) => logWith(Effect.logError(message, Cause.die(cause)))
    },
    batcher
  )
  life.queued = loop.queued
  const ctx: PipelineContext = {
    actorId: settings.id,
    serving,
    maxPayloadBytes: settings.maxPayloadBytes ?? nc.info?.max_payload ?? 1024 * 1024,
    admission,
    loop,
    stats,
    measure,
    tracer
  }
  const sizer = yield* batchSizer({
    actorId: settings.id,
    modelName: settings.model,
    serving,
    batcher,
    between: loop.between,
    options: settings.batching ?? DEFAULT_BATCHING
  })
  // a canary running now is taken up before the first request
  if (registry !== undefined) yield* followCanary({ nc, registry, serving, settings, batcher, loop })
  yield* serve(nc, ctx, admission, settings, () => {
    life.state = "draining"
    return counters()
  })
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
    // batch-job chunks, pulled only while no online request is held (JetStream is there: the registry is)
    yield* followBatchWork({
      nc,
      prefix: settings.prefix,
      model: settings.model,
      actorId: settings.id,
      serving,
      admission,
      loop,
      batcher,
      log: (message) => logWith(Effect.logWarning(message))
    })
  }
  yield* Effect.promise(() => nc.flush())
  life.state = "serving"
  tellSupervisor({ type: "ready", backend: runtime.backend, loadMs, counters: counters() })
  sizer.measure()
  yield* Effect.logInfo(
    `actor ${settings.id} serving ${settings.model} v${first.version} on ${runtime.backend} (loaded in ${loadMs.toFixed(0)} ms)`
  )
})
