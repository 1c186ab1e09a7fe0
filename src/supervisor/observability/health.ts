// Readiness of a supervisor as a pure function of its status: ready while every configured model
// has a serving replica here; otherwise the models that have none, for /readyz to name.
import type { SupervisorStatus } from "../../protocol/messages.js"

export interface Readiness {
  readonly ready: boolean
  /** The configured models without a serving replica, in config order. */
  readonly notReady: ReadonlyArray<string>
}

export const readinessOf = (status: SupervisorStatus, models: ReadonlyArray<string>): Readiness => {
  const serving = new Set(status.actors.filter((a) => a.state === "serving").map((a) => a.model))
  const notReady = models.filter((m) => !serving.has(m))
  return { ready: notReady.length === 0, notReady }
}

/** The body /readyz answers with. */
export const readinessText = (r: Readiness): string =>
  r.ready ? "ready\n" : `not ready: ${r.notReady.map((m) => `${m} has no serving replica`).join("; ")}\n`
