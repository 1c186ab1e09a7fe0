// A supervisor's metrics as one object: the actors' reports and exits it observes, the lifecycle
// events it counts, and the Prometheus text rendered from them and the supervisor's status.
import { Effect } from "effect"
import type { LifecycleEventType, SupervisorStatus } from "../../protocol/messages.js"
import type { ChildSignal } from "../runtime/interpreter.js"
import { makeActorTotals } from "./actorTotals.js"
import { makeMetricsRegistry } from "./prometheus.js"

export interface SupervisorMetrics {
  /** A signal of incarnation `n` of `actor` (its full id): reports are summed, exits keep what was reported. */
  readonly observe: (actor: string, n: number, signal: ChildSignal) => void
  readonly onEvent: (model: string, type: LifecycleEventType, childId: string | undefined) => Effect.Effect<void>
  /** The Prometheus text for this status. */
  readonly render: (status: SupervisorStatus) => string
}

export const makeSupervisorMetrics = Effect.fnUntraced(function* (models: ReadonlyArray<string>) {
  const totals = makeActorTotals()
  const registry = yield* makeMetricsRegistry(models)
  const metrics: SupervisorMetrics = {
    observe: (actor, n, signal) => {
      if (signal._tag === "Exited") totals.exited(actor, n)
      else if (signal.report.counters !== undefined) totals.report(actor, n, signal.report.counters)
    },
    onEvent: registry.onEvent,
    render: (status) => {
      totals.retain(new Set(status.actors.map((a) => a.id)))
      return registry.render(status, models, totals.totals)
    }
  }
  return metrics
})
