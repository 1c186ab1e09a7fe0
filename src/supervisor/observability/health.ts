// Readiness of a supervisor as a pure function of its status: ready while every configured model
// has a serving replica here, or scales to zero (its requests are held while it wakes); otherwise
// the models that have neither, for /readyz to name.
import type { SupervisorStatus } from "../../protocol/messages.js"

export interface Readiness {
  readonly ready: boolean
  /** The configured models without a serving replica, in config order. */
  readonly notReady: ReadonlyArray<string>
}

export const readinessOf = (status: SupervisorStatus, models: ReadonlyArray<string>): Readiness => {
  const serving = new Set(status.actors.filter((a) => a.state === "serving").map((a) => a.model))
  const wakes = new Set(status.tree?.models.filter((m) => m.autoscale?.min === 0).map((m) => m.name))
  const notReady = models.filter((m) => !serving.has(m) && !wakes.has(m))
  return { ready: notReady.length === 0, notReady }
}

/** The body /readyz answers with. */
export const readinessText = (r: Readiness): string =>
  r.ready ? "ready\n" : `not ready: ${r.notReady.map((m) => `${m} has no serving replica`).join("; ")}\n`
