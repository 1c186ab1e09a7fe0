// The supervisor's metrics as Effect `Metric`s in its own registry, rendered in the Prometheus text
// format by Effect's encoder: per actor what its processes reported, per supervisor its restarts.
import { Context, Effect, Metric } from "effect"
import { PrometheusMetrics } from "effect/observability"
import {
  BATCH_SIZE_BUCKETS,
  type HistogramCounts,
  LATENCY_BUCKETS,
  OUTCOMES,
  type Outcome
} from "../../protocol/ipc.js"
import {
  ActorState,
  type ActorStatus,
  isStandby,
  type LifecycleEventType,
  type SupervisorStatus
} from "../../protocol/messages.js"
import type { Totals } from "./actorTotals.js"

const latency = (name: string, description: string) =>
  Metric.histogram(name, { description, boundaries: LATENCY_BUCKETS })

/** Every series of one actor, labelled `model` and `actor` (`outcome` and `version` for requests, `version` for their latency). */
const actorMetrics = {
  requests: Metric.counter("modelbus_requests_total", {
    description: "Requests an actor took off the bus, by outcome and version (stable, or a canary's candidate)",
    incremental: true
  }),
  total: latency(
    "modelbus_request_duration_seconds",
    "From taking a request off the bus to sending its reply (requests that reached the model queue)"
  ),
  queueWait: latency("modelbus_queue_wait_seconds", "From taking a request off the bus to its model call starting"),
  compute: latency("modelbus_compute_seconds", "The model call that computed a request"),
  batchSize: Metric.histogram("modelbus_batch_size", {
    description: "Requests per model call",
    boundaries: BATCH_SIZE_BUCKETS
  }),
  inflight: Metric.gauge("modelbus_inflight_requests", { description: "Requests accepted and not yet answered" }),
  version: Metric.gauge("modelbus_model_version", { description: "The model version the actor serves" }),
  loads: Metric.counter("modelbus_model_loads_total", {
    description: "Models built from artifacts, over every process of the actor slot",
    incremental: true
  }),
  restarts: Metric.counter("modelbus_actor_restarts_total", {
    description: "Restarts of the actor slot",
    incremental: true
  }),
  rss: Metric.gauge("modelbus_resident_memory_bytes", { description: "Resident memory of the actor process" }),
  tensors: Metric.gauge("modelbus_live_tensors", { description: "Live TensorFlow.js tensors in the actor process" }),
  serving: Metric.gauge("modelbus_actor_serving", { description: "1 while the actor serves, else 0" })
} as const

const modelReady = Metric.gauge("modelbus_model_ready", {
  description: "1 while the model has a serving replica on this supervisor, else 0"
})

/** Per autoscaled model: what its autoscaler wants, what runs, and the load it sees. */
const autoscaleMetrics = {
  target: Metric.gauge("modelbus_autoscale_target_replicas", {
    description: "Replicas the model's autoscaling policy wants on this supervisor"
  }),
  replicas: Metric.gauge("modelbus_autoscale_replicas", {
    description: "Replicas the autoscaled model has on this supervisor"
  }),
  observed: Metric.gauge("modelbus_autoscale_observed_inflight", {
    description: "Requests in flight (queued and running) over the model's replicas, averaged over its lookback window"
  })
} as const

/** The supervisor's warm standby processes: not replicas of any model, so never in the series above. */
const standbyMetrics = {
  ready: Metric.gauge("modelbus_standby_ready", {
    description: "Standby processes ready to take a slot (runtime up, NATS connected, no model)"
  }),
  rss: Metric.gauge("modelbus_standby_resident_memory_bytes", {
    description: "Resident memory of the supervisor's standby processes, summed"
  })
} as const

/** Counted as the supervisor's lifecycle events happen, labelled `supervisor` (root or a model's name). */
const supervisorMetrics = {
  restarts: Metric.counter("modelbus_supervisor_restarts_total", {
    description: "Children a supervisor restarted (replicas for a model's supervisor, model supervisors for the root)",
    incremental: true
  }),
  escalations: Metric.counter("modelbus_supervisor_escalations_total", {
    description: "Times a model's supervisor gave up and escalated to the root",
    incremental: true
  })
} as const

/** `whole` less `part` (counted among it), bucket by bucket. */
const withoutPart = (whole: HistogramCounts, part: HistogramCounts): HistogramCounts => ({
  counts: whole.counts.map((c, i) => c - (part.counts[i] ?? 0)),
  sum: whole.sum - part.sum
})

const histogramState = (bounds: ReadonlyArray<number>, h: HistogramCounts): Metric.HistogramState => {
  let cumulative = 0
  const buckets: Array<[number, number]> = bounds.map((bound, i) => {
    cumulative += h.counts[i] ?? 0
    return [bound, cumulative]
  })
  const count = cumulative + (h.counts[bounds.length] ?? 0)
  return { buckets, count, min: Number.NaN, max: Number.NaN, sum: h.sum }
}

export interface MetricsRegistry {
  /** Counts a lifecycle event of a supervisor (`childId` undefined: an event of the root about a model's supervisor). */
  readonly onEvent: (model: string, type: LifecycleEventType, childId: string | undefined) => Effect.Effect<void>
  /** The Prometheus text of the supervisor now. */
  readonly render: (
    status: SupervisorStatus,
    models: ReadonlyArray<string>,
    totals: (actor: string) => Totals | undefined
  ) => string
}

/** The registry of a supervisor running `models`; their supervisors' counters start at 0. */
export const makeMetricsRegistry = Effect.fnUntraced(function* (models: ReadonlyArray<string>) {
  const registry: Metric.MetricRegistry = new Map()
  const context = Context.make(Metric.MetricRegistry, registry)
  let actorSeries: Array<Metric.Registration> = []

  const count = (metric: Metric.Counter<number>, supervisor: string, by = 1) =>
    Metric.update(Metric.withAttributes(metric, { supervisor }), by).pipe(
      Effect.provideService(Metric.MetricRegistry, registry)
    )

  const register = <I, S>(metric: Metric.Metric<I, S>, attributes: Record<string, string>, state: S) => {
    actorSeries.push(Metric.registerUnsafe(Metric.withAttributes(metric, attributes), context, constant(state)))
  }

  /** Requests and their latencies by `version`: `stable`, and `candidate` once a canary's candidate answered here. */
  const registerByVersion = (labels: Record<string, string>, totals: Totals | undefined) => {
    const candidate = totals?.candidate
    const hasCandidate = candidate !== undefined && OUTCOMES.some((o) => candidate.outcomes[o] > 0)
    for (const outcome of OUTCOMES) {
      const n = totals?.outcomes[outcome as Outcome] ?? 0
      const c = candidate?.outcomes[outcome as Outcome] ?? 0
      register(actorMetrics.requests, { ...labels, outcome, version: "stable" }, { count: n - c, incremental: true })
      if (hasCandidate)
        register(actorMetrics.requests, { ...labels, outcome, version: "candidate" }, { count: c, incremental: true })
    }
    if (totals === undefined) return
    const stable = hasCandidate ? withoutPart(totals.total, totals.candidate.total) : totals.total
    register(actorMetrics.total, { ...labels, version: "stable" }, histogramState(LATENCY_BUCKETS, stable))
    if (hasCandidate)
      register(
        actorMetrics.total,
        { ...labels, version: "candidate" },
        histogramState(LATENCY_BUCKETS, totals.candidate.total)
      )
  }

  const registerActor = (actor: ActorStatus, totals: Totals | undefined) => {
    const labels = { model: actor.model, actor: actor.id }
    registerByVersion(labels, totals)
    if (totals !== undefined) {
      register(actorMetrics.queueWait, labels, histogramState(LATENCY_BUCKETS, totals.queueWait))
      register(actorMetrics.compute, labels, histogramState(LATENCY_BUCKETS, totals.compute))
      register(actorMetrics.batchSize, labels, histogramState(BATCH_SIZE_BUCKETS, totals.batchSize))
    }
    register(actorMetrics.inflight, labels, { value: actor.inflight })
    register(actorMetrics.version, labels, { value: actor.version })
    register(actorMetrics.loads, labels, { count: totals?.loads ?? actor.loads, incremental: true })
    register(actorMetrics.restarts, labels, { count: actor.restarts, incremental: true })
    register(actorMetrics.rss, labels, { value: actor.rssBytes })
    register(actorMetrics.tensors, labels, { value: actor.tensors })
    register(actorMetrics.serving, labels, { value: actor.state === "serving" ? 1 : 0 })
  }

  for (const supervisor of ["root", ...models]) {
    yield* count(supervisorMetrics.restarts, supervisor, 0)
    if (supervisor !== "root") yield* count(supervisorMetrics.escalations, supervisor, 0)
  }

  const metrics: MetricsRegistry = {
    onEvent: (model, type, childId) =>
      type === "restarted"
        ? count(supervisorMetrics.restarts, childId === undefined ? "root" : model)
        : type === "escalated"
          ? count(supervisorMetrics.escalations, model)
          : Effect.void,
    render: (status, models, totals) => {
      for (const series of actorSeries) series.remove()
      actorSeries = []
      for (const model of models) {
        const ready = status.actors.some((a) => a.model === model && a.state === "serving")
        register(modelReady, { model }, { value: ready ? 1 : 0 })
        const autoscale = status.tree?.models.find((m) => m.name === model)?.autoscale
        if (autoscale === undefined) continue
        register(autoscaleMetrics.target, { model }, { value: autoscale.target })
        register(autoscaleMetrics.replicas, { model }, { value: autoscale.replicas })
        register(autoscaleMetrics.observed, { model }, { value: autoscale.observed })
      }
      const standbys = status.actors.filter(isStandby)
      register(standbyMetrics.ready, {}, { value: standbys.filter((a) => a.state === ActorState.standby).length })
      register(standbyMetrics.rss, {}, { value: standbys.reduce((sum, a) => sum + a.rssBytes, 0) })
      for (const actor of status.actors) if (!isStandby(actor)) registerActor(actor, totals(actor.id))
      return PrometheusMetrics.formatUnsafe(context)
    }
  }
  return metrics
})

/** Hooks of a series whose state is fixed when it is registered (registered again at each scrape). */
const constant = <S>(state: S): Metric.Metric.Hooks<never, S> => ({
  get: () => state,
  update: () => {},
  modify: () => {}
})
