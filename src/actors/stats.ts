// An actor's own counters, bumped on the per-message path with integer and float adds only, and its batch
// limit: they feed its heartbeats to the supervisor and its NATS micro answers (requests, errors, times).
import type { ServiceError } from "../protocol/errors.js"
import type { BatchLimit } from "../protocol/ipc.js"

export interface ActorStats {
  /** Requests answered with outputs. */
  served: number
  /** Requests answered with a typed error (refused, timed out or failed). */
  errors: number
  /** Model invocations: fewer than requests answered when requests were batched. */
  calls: number
  /** Summed over answered requests: from arrival to the reply being sent, in ms (queue wait included). */
  processingMs: number
  /** The last error a request was answered with (kept as is; formatted only when asked for). */
  lastError: ServiceError | undefined
  /** The batch limit in force (set by the batcher; replaced, never mutated). */
  batchLimit: BatchLimit
}

export const actorStats = (): ActorStats => ({
  served: 0,
  errors: 0,
  calls: 0,
  processingMs: 0,
  lastError: undefined,
  batchLimit: { maxBatchSize: 1, source: "fallback" }
})
