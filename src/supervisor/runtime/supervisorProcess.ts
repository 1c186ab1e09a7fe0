// A supervisor process on the bus: its NATS connection, the model tree it runs, the lifecycle events
// it publishes and logs, its status, and the control commands it answers.
import { hostname } from "node:os"
import type { NatsConnection } from "@nats-io/transport-node"
import { Clock, Effect, Random, type Scope } from "effect"
import { natsConnection, serverList } from "../../nats/connection.js"
import { separateCredentials } from "../../nats/credentials.js"
import { hasJetStream } from "../../nats/jetstream.js"
import { announce, openMembers } from "../../nats/members.js"
import type { NatsAuth } from "../../protocol/auth.js"
import type { ConnectionError } from "../../protocol/errors.js"
import type { ActorLaunch, StandbyLaunch } from "../../protocol/ipc.js"
import type { LifecycleEvent, SupervisorNode, SupervisorStatus } from "../../protocol/messages.js"
import { subjects } from "../../protocol/subjects.js"
import { openRegistry } from "../../registry/Registry.js"
import { type Config, DEFAULTS, type ModelConfig } from "../config.js"
import type { IntensityExceeded, MetricsUnavailable, StartFailed } from "../errors.js"
import { childRow, supervisorNode } from "../machine/statusRows.js"
import { makeSupervisorMetrics, type SupervisorMetrics } from "../observability/supervisorMetrics.js"
import { ActorLauncher } from "./actorLauncher.js"
import { makeAutoscalePeers } from "./autoscalePeers.js"
import { startAutoscalers } from "./autoscaler.js"
import { makeBatchBacklog } from "./batchBacklog.js"
import { answerControl } from "./controlSubjects.js"
import type { EmitCommand } from "./interpreter.js"
import { startModelTree } from "./modelTree.js"
import { makeRequestHolder } from "./requestHolder.js"
import { makeStandbyPool } from "./standbyPool.js"

export interface SupervisorProcess {
  readonly id: string
  readonly status: () => SupervisorStatus
  /** Completes once every replica of every model has served; fails if the tree could not start. */
  readonly started: Effect.Effect<void, StartFailed>
  /** Fails when the root stops supervising (a start failure, or escalation that exceeded its intensity). */
  readonly failure: Effect.Effect<never, StartFailed | IntensityExceeded>
  /** The port /metrics, /healthz and /readyz are served on, when the config asks for them. */
  readonly metricsPort: number | undefined
}

/**
 * Creates the registry's buckets before any actor opens them, with the configured replicas, and raises
 * buckets made with fewer; a refusal is logged with how to fix it (serving goes on).
 */
const prepareRegistry = (nc: NatsConnection, config: Config) =>
  openRegistry(nc, {
    prefix: config.prefix,
    retention: config.registry.retention,
    ...(config.registry.replicas === undefined ? {} : { replicas: config.registry.replicas, raiseReplicas: true })
  }).pipe(Effect.catch((error) => Effect.logWarning(error.message)))

/** A short random id for this supervisor process (six base-36 characters). */
const newSupervisorId = Random.nextIntBetween(0, 36 ** 6 - 1).pipe(Effect.map((n) => n.toString(36).padStart(6, "0")))

/** The metrics and health endpoints, started before the tree so they outlive its drain; `view.status` is set once the tree runs. */
const startObservability = (
  port: number,
  metrics: SupervisorMetrics,
  view: StatusView,
  models: ReadonlyArray<string>
) =>
  Effect.promise(() => import("../observability/httpServer.js")).pipe(
    Effect.flatMap(({ serveObservability }) =>
      serveObservability(port, {
        status: () => view.status(),
        models,
        metrics: () => metrics.render(view.status())
      })
    )
  )

interface StatusView {
  status: () => SupervisorStatus
}

/**
 * Starts the tree; closing the scope stops answering, drains every actor in order, then disconnects.
 * `auth` (else credentials in a server URL) is what the supervisor and its actors connect with; actors
 * get it over IPC.
 */
export const startSupervisorProcess = Effect.fn("SupervisorProcess.start")(function* (
  config: Config,
  servers: string | ReadonlyArray<string>,
  auth: NatsAuth = {}
): Effect.fn.Return<SupervisorProcess, ConnectionError | MetricsUnavailable, Scope.Scope | ActorLauncher> {
  const id = yield* newSupervisorId
  const startedAt = yield* Clock.currentTimeMillis
  const models = config.models.map((m) => m.name)
  const view: StatusView = { status: () => ({ supervisor: { id, pid: process.pid, host: hostname() }, actors: [] }) }
  const metrics = config.metrics === undefined ? undefined : yield* makeSupervisorMetrics(models)
  const metricsPort =
    config.metrics === undefined || metrics === undefined
      ? undefined
      : yield* startObservability(config.metrics.port, metrics, view, models)
  const subject = subjects(config.prefix)
  const nc = yield* natsConnection({ servers, name: `modelbus-supervisor ${id}`, auth })
  const forActors = separateCredentials(serverList(servers), auth)
  const jetStream = yield* hasJetStream(nc)
  const registry = config.registry.mode === "auto" && jetStream
  if (registry) yield* prepareRegistry(nc, config)
  else {
    yield* Effect.logWarning(
      config.registry.mode === "off"
        ? "registry off: actors serve their config path; updates are disabled"
        : "JetStream is not available on this NATS server: actors serve their config path; updates need nats-server -js"
    )
  }
  if (jetStream) {
    const member = { id, host: hostname(), pid: process.pid, models: config.models.map((m) => m.name), startedAt }
    yield* openMembers(nc, config.prefix, config.registry.replicas).pipe(
      Effect.flatMap((kv) => announce(kv, member)),
      Effect.catch((why) =>
        Effect.logWarning(
          `supervisor ${id} cannot announce itself (${why}): callers fall back to waiting for a quiet gap`
        )
      )
    )
  }
  const actorId = (childId: string) => `${childId}@${id}`

  /** What every process of this supervisor starts with, actor or standby: one connection, one registry, one metrics switch. */
  const processSettingsOf = (processId: string): StandbyLaunch => ({
    id: actorId(processId),
    servers: forActors.servers,
    ...(Object.keys(forActors.auth).length === 0 ? {} : { auth: forActors.auth }),
    prefix: config.prefix,
    heartbeatMs: DEFAULTS.heartbeatMs,
    registry,
    retention: config.registry.retention,
    ...(metrics === undefined ? {} : { metrics: true })
  })

  const settingsOf = (model: ModelConfig, childId: string): ActorLaunch => ({
    ...processSettingsOf(childId),
    model: model.name,
    path: model.path,
    version: 1,
    heartbeatMs: model.heartbeatMs,
    batching: model.batching,
    ...(model.maxInflight === undefined ? {} : { maxInflight: model.maxInflight }),
    ...(model.maxPayloadBytes === undefined ? {} : { maxPayloadBytes: model.maxPayloadBytes }),
    ...(model.onnx === undefined ? {} : { onnx: model.onnx })
  })

  // Created before the tree, so closed after it; its own finalizer below stops the standbys first, as the tree drains.
  const pool =
    config.standby === 0
      ? undefined
      : yield* makeStandbyPool({ size: config.standby, settingsOf: processSettingsOf, actorId })
  const launcher = pool?.launcher ?? (yield* ActorLauncher)

  const emit = (model: string, command: EmitCommand, pid: number | undefined, childId: string | undefined) =>
    Effect.gen(function* () {
      const event: LifecycleEvent = {
        type: command.type,
        model,
        supervisor: id,
        at: yield* Clock.currentTimeMillis,
        ...(childId === undefined ? {} : { actor: actorId(childId) }),
        ...(pid === undefined ? {} : { pid }),
        ...command.fields
      }
      if (!nc.isClosed()) nc.publish(subject.events(model), JSON.stringify(event))
      if (metrics !== undefined) yield* metrics.onEvent(model, command.type, childId)
      const { type: _, at: __, supervisor: ___, ...fields } = event
      yield* Effect.logInfo(`${event.type} ${model}`).pipe(Effect.annotateLogs({ event: event.type, ...fields }))
    })

  yield* Effect.addFinalizer(() => Effect.logInfo(`supervisor ${id} stopped`))
  const tree = yield* startModelTree({
    config,
    settingsOf,
    emit,
    ...(metrics === undefined
      ? {}
      : { observe: (_model, childId, n, signal) => metrics.observe(actorId(childId), n, signal) })
  }).pipe(Effect.provideService(ActorLauncher, launcher))
  yield* Effect.addFinalizer(() => Effect.logInfo(`supervisor ${id} stopping: draining every actor`))
  // started after the tree, so stopped before it drains: no scaling while it shuts down
  const autoscalers = yield* startAutoscalers({
    config,
    supervisorId: id,
    supervisor: tree.model,
    holder: (model) => makeRequestHolder({ nc, subject, model: model.name, policy: model.autoscale! }),
    peers: (model) => makeAutoscalePeers({ nc, subject, model: model.name, self: id }),
    backlog: (model) => makeBatchBacklog({ nc, prefix: config.prefix, model: model.name })
  })
  if (pool !== undefined) {
    yield* Effect.addFinalizer(() => pool.shutdown)
    // standbys are forked once every replica serves: they do not slow the first start down
    yield* Effect.forkScoped(tree.started.pipe(Effect.andThen(pool.fill), Effect.ignore))
  }

  const modelNode = (model: ModelConfig): SupervisorNode => {
    const underRoot = tree.root.state().children.find((c) => c.spec.id === model.name)
    const escalations = underRoot?.restarts ?? 0
    const running = tree.model(model.name)
    const autoscale = autoscalers.status(model.name)
    const withAutoscale = autoscale === undefined ? {} : { autoscale }
    if (running === undefined || underRoot?.primary === undefined) {
      return {
        name: model.name,
        ...model.supervisor,
        state: "restarting",
        recentRestarts: 0,
        escalations,
        ...withAutoscale
      }
    }
    return { ...supervisorNode(running.state(), running.clock(), escalations), ...withAutoscale }
  }

  const status = (): SupervisorStatus => ({
    supervisor: { id, pid: process.pid, host: hostname(), startedAt },
    actors: config.models
      .flatMap((model) => {
        const running = tree.model(model.name)
        if (running === undefined) return []
        const clock = running.clock()
        return running
          .state()
          .children.map((child) => childRow(child, { ...clock, model: model.name, actorId, pidOf: running.pidOf }))
      })
      .concat(pool?.rows() ?? []),
    tree: { root: supervisorNode(tree.root.state(), tree.root.clock()), models: config.models.map(modelNode) }
  })

  /** A model name restarts every replica of it; `iris-2` or `iris-2@<this id>` restarts one. */
  const restart = (target: string) => {
    const toActorIds = (ids: ReadonlyArray<string>) => ids.map(actorId)
    const whole = tree.model(target)
    if (whole !== undefined) return whole.restart().pipe(Effect.map(toActorIds))
    const [childId, owner] = target.split("@")
    if (childId === undefined || (owner !== undefined && owner !== id)) return Effect.succeed([])
    const model = config.models.find((m) =>
      tree
        .model(m.name)
        ?.state()
        .children.some((c) => c.spec.id === childId)
    )
    const running = model === undefined ? undefined : tree.model(model.name)
    return running === undefined ? Effect.succeed([]) : running.restart(childId).pipe(Effect.map(toActorIds))
  }

  const scale = (model: string, replicas: number) => {
    const running = tree.model(model)
    const policy = config.models.find((m) => m.name === model)?.autoscale
    if (policy !== undefined)
      return Effect.fail(
        `model ${model} is autoscaled (autoscale.min ${policy.min}, max ${policy.max}): its replicas follow load; ` +
          "change autoscale.min or autoscale.max in the config to bound them"
      )
    return running === undefined
      ? Effect.succeed([])
      : running.scale(replicas).pipe(Effect.map((ids) => ids.map(actorId)))
  }

  view.status = status
  yield* answerControl(nc, subject, { id, status, restart, scale })
  return { id, status, started: tree.started, failure: tree.failure, metricsPort }
})
