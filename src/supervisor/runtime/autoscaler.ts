// Each autoscaled model's loop: sample its replicas' counters on Effect's clock, add what the other
// supervisors running it report on the bus, run the pure decision on the cluster's load, take this
// supervisor's share inside the host budget, and apply it through the supervisor's scale path.
import { Clock, Effect, Schedule, type Scope } from "effect"
import { MEMBERSHIP } from "../../nats/members.js"
import type { AutoscaleStatus } from "../../protocol/messages.js"
import type { Config, ModelConfig } from "../config.js"
import { type AutoscaleMemory, decide, initialMemory, type LoadSample, record } from "../machine/autoscale.js"
import { grant, latestExit, loadSampleOf, type SeenCounters } from "../machine/autoscaleInputs.js"
import { clusterSample, livePeers, shareOf, startingTarget } from "../machine/autoscaleShare.js"
import type { AutoscalePeers } from "./autoscalePeers.js"
import type { BatchBacklog } from "./batchBacklog.js"
import type { Supervisor } from "./interpreter.js"
import type { RequestHolder } from "./requestHolder.js"

export interface Autoscalers {
  /** What the autoscaler of `model` decided last; undefined when the model is not autoscaled. */
  readonly status: (model: string) => AutoscaleStatus | undefined
}

/** How often a model's load is sampled: as often as replicas report, at most every 50 ms. */
export const sampleMsOf = (model: ModelConfig): number =>
  Math.max(50, Math.min(model.heartbeatMs, (model.autoscale?.lookbackMs ?? model.heartbeatMs) / 4))

/** Samples taken before the first decision, so supervisors started together hear each other first. */
const LISTEN_SAMPLES = 3

const millis = (nanos: bigint) => Number(nanos) / 1e6

/** Starts one loop per autoscaled model, in the scope; `supervisor(model)` is the one running it now. */
export const startAutoscalers = Effect.fnUntraced(function* (options: {
  readonly config: Config
  readonly supervisorId: string
  readonly supervisor: (model: string) => Supervisor | undefined
  /** Holds the requests of a model with `autoscale.min: 0` while no replica of it serves. */
  readonly holder: (model: ModelConfig) => Effect.Effect<RequestHolder, never, Scope.Scope>
  /** The other supervisors running the model, heard on the bus. */
  readonly peers: (model: ModelConfig) => Effect.Effect<AutoscalePeers, never, Scope.Scope>
  /** The batch work queued for a model with `autoscale.min: 0` (it wakes the model and keeps a replica). */
  readonly backlog: (model: ModelConfig) => Effect.Effect<BatchBacklog, never, Scope.Scope>
}): Effect.fn.Return<Autoscalers, never, Scope.Scope> {
  const { config, supervisorId } = options
  const statuses = new Map<string, AutoscaleStatus>()
  const actorsOf = (model: ModelConfig) => options.supervisor(model.name)?.state().children.length ?? model.replicas

  const loop = (
    model: ModelConfig,
    holder: RequestHolder | undefined,
    peers: AutoscalePeers,
    backlog: BatchBacklog | undefined
  ) => {
    const policy = model.autoscale!
    let memory: AutoscaleMemory | undefined
    let window: ReadonlyArray<LoadSample> = []
    let seen: SeenCounters = new Map()
    let exitSeen = Number.NEGATIVE_INFINITY
    let samples = 0
    statuses.set(model.name, {
      replicas: model.replicas,
      target: model.replicas,
      reason: "starting",
      observed: 0,
      min: policy.min,
      max: policy.max
    })
    const tick = Effect.gen(function* () {
      const running = options.supervisor(model.name)
      if (running === undefined) return
      const state = running.state()
      const exit = latestExit(state)
      const newExit = exit !== undefined && exit.at > exitSeen ? exit : undefined
      if (exit !== undefined) exitSeen = exit.at
      const current = state.children.length
      const now = millis(yield* Clock.monotonicTimeNanos)
      const local = loadSampleOf(state, seen, now, holder?.held() ?? 0, backlog?.queued() ?? 0)
      seen = local.seen
      peers.publish({
        supervisor: supervisorId,
        actors: current,
        ...local.sample,
        ...(memory === undefined ? {} : { target: memory.target })
      })
      const live = livePeers(peers.reports(), now, MEMBERSHIP.ttlMs)
      const cluster = clusterSample(local.sample, current, live)
      if (holder !== undefined) {
        // a replica woken for held requests that died before serving: they are answered now, not on the next try
        if (local.sample.replicas === 0 && newExit !== undefined && holder.held() > 0)
          yield* holder.failAll(newExit.reason)
        yield* holder.follow(cluster.sample.replicas)
      }
      if (state.phase === "failed" || state.phase === "stopped") return
      window = record(window, cluster.sample, policy.lookbackMs)
      if (++samples < LISTEN_SAMPLES) return
      const decision = decide(policy, memory ?? initialMemory(startingTarget(live, cluster.actors)), window, now)
      memory = decision.memory
      const split = shareOf(
        decision.target,
        live.map((p) => p.supervisor),
        supervisorId
      )
      const others = config.models.filter((m) => m.name !== model.name).reduce((n, m) => n + actorsOf(m), 0)
      const granted = grant(split.share, current, others, config.maxActors)
      const shared =
        split.of > 1
          ? `${decision.reason}; share ${split.share} of ${decision.target} (rank ${split.rank + 1} of ${split.of} supervisors)`
          : decision.reason
      const reason =
        granted.wantedMore > 0
          ? `${shared}; supervisor.maxActors ${config.maxActors} binds: wanted ${granted.wantedMore} more`
          : shared
      statuses.set(model.name, {
        replicas: current,
        target: split.share,
        reason,
        observed: decision.observed,
        min: policy.min,
        max: policy.max,
        ...(granted.wantedMore > 0 ? { wantedMore: granted.wantedMore } : {}),
        ...(split.of > 1 ? { cluster: { target: decision.target, supervisors: split.of, rank: split.rank } } : {})
      })
      if (granted.replicas === current) return
      // the cluster goes to zero: the holder joins the queue group before the last replica leaves it
      if (decision.target === 0 && holder !== undefined) yield* holder.follow(0)
      yield* running.scale(granted.replicas, {
        observed: decision.observed,
        target: decision.target,
        reason,
        decidedBy: `autoscale@${supervisorId}`
      })
      const after = statuses.get(model.name)
      if (after !== undefined) statuses.set(model.name, { ...after, replicas: running.state().children.length })
    }).pipe(Effect.catchCause((cause) => Effect.logError(`autoscaler of model ${model.name} failed a round`, cause)))
    return tick.pipe(Effect.repeat(Schedule.spaced(sampleMsOf(model))))
  }

  for (const model of config.models) {
    if (model.autoscale === undefined) continue
    const holder = model.autoscale.min === 0 ? yield* options.holder(model) : undefined
    const backlog = model.autoscale.min === 0 ? yield* options.backlog(model) : undefined
    const peers = yield* options.peers(model)
    yield* Effect.forkScoped(loop(model, holder, peers, backlog))
  }
  return { status: (model) => statuses.get(model) }
})
