// Each autoscaled model's loop: sample its replicas' counters on Effect's clock, run the pure
// decision, keep inside the host budget, and apply the target through the supervisor's scale path.
import { Clock, Effect, Schedule, type Scope } from "effect"
import type { AutoscaleStatus } from "../../protocol/messages.js"
import type { Config, ModelConfig } from "../config.js"
import { type AutoscaleMemory, decide, initialMemory, type LoadSample, record } from "../machine/autoscale.js"
import { grant, latestExit, loadSampleOf, type SeenCounters } from "../machine/autoscaleInputs.js"
import type { Supervisor } from "./interpreter.js"
import type { RequestHolder } from "./requestHolder.js"

export interface Autoscalers {
  /** What the autoscaler of `model` decided last; undefined when the model is not autoscaled. */
  readonly status: (model: string) => AutoscaleStatus | undefined
}

/** How often a model's load is sampled: as often as replicas report, at most every 50 ms. */
export const sampleMsOf = (model: ModelConfig): number =>
  Math.max(50, Math.min(model.heartbeatMs, (model.autoscale?.lookbackMs ?? model.heartbeatMs) / 4))

const millis = (nanos: bigint) => Number(nanos) / 1e6

/** Starts one loop per autoscaled model, in the scope; `supervisor(model)` is the one running it now. */
export const startAutoscalers = Effect.fnUntraced(function* (options: {
  readonly config: Config
  readonly supervisorId: string
  readonly supervisor: (model: string) => Supervisor | undefined
  /** Holds the requests of a model with `autoscale.min: 0` while it has no replica. */
  readonly holder: (model: ModelConfig) => Effect.Effect<RequestHolder, never, Scope.Scope>
}): Effect.fn.Return<Autoscalers, never, Scope.Scope> {
  const { config } = options
  const statuses = new Map<string, AutoscaleStatus>()
  const actorsOf = (model: ModelConfig) => options.supervisor(model.name)?.state().children.length ?? model.replicas

  const loop = (model: ModelConfig, holder: RequestHolder | undefined) => {
    const policy = model.autoscale!
    let exitSeen = Number.NEGATIVE_INFINITY
    let memory: AutoscaleMemory = initialMemory(model.replicas)
    let window: ReadonlyArray<LoadSample> = []
    let seen: SeenCounters = new Map()
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
      const serving = state.children.filter((c) => c.primary?.state === "serving").length
      if (holder !== undefined) {
        // a replica woken for held requests that died before serving: they are answered now, not on the next try
        if (serving === 0 && newExit !== undefined && holder.held() > 0) yield* holder.failAll(newExit.reason)
        yield* holder.follow(serving)
      }
      if (state.phase === "failed" || state.phase === "stopped") return
      const now = millis(yield* Clock.monotonicTimeNanos)
      const sampled = loadSampleOf(state, seen, now, holder?.held() ?? 0)
      seen = sampled.seen
      window = record(window, sampled.sample, policy.lookbackMs)
      const decision = decide(policy, memory, window, now)
      memory = decision.memory
      const current = state.children.length
      const others = config.models.filter((m) => m.name !== model.name).reduce((n, m) => n + actorsOf(m), 0)
      const granted = grant(decision.target, current, others, config.maxActors)
      const reason =
        granted.wantedMore > 0
          ? `${decision.reason}; supervisor.maxActors ${config.maxActors} binds: wanted ${granted.wantedMore} more`
          : decision.reason
      statuses.set(model.name, {
        replicas: current,
        target: decision.target,
        reason,
        observed: decision.observed,
        min: policy.min,
        max: policy.max,
        ...(granted.wantedMore > 0 ? { wantedMore: granted.wantedMore } : {})
      })
      if (granted.replicas === current) return
      // at zero the holder is in the queue group before the last replica leaves it: no request meets no one
      if (granted.replicas === 0 && holder !== undefined) yield* holder.follow(0)
      yield* running.scale(granted.replicas, {
        observed: decision.observed,
        target: decision.target,
        reason,
        decidedBy: `autoscale@${options.supervisorId}`
      })
      const after = statuses.get(model.name)
      if (after !== undefined) statuses.set(model.name, { ...after, replicas: running.state().children.length })
    }).pipe(Effect.catchCause((cause) => Effect.logError(`autoscaler of model ${model.name} failed a round`, cause)))
    return tick.pipe(Effect.repeat(Schedule.spaced(sampleMsOf(model))))
  }

  for (const model of config.models) {
    if (model.autoscale === undefined) continue
    const holder = model.autoscale.min === 0 ? yield* options.holder(model) : undefined
    yield* Effect.forkScoped(loop(model, holder))
  }
  return { status: (model) => statuses.get(model) }
})
