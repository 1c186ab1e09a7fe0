// When a replica should be recycled (replaced by a fresh process, then drained): a pure check of
// its latest counters against the model's limits on requests served, resident memory and tensors.
import type { ActorCounters } from "../../protocol/ipc.js"

export interface RecycleLimits {
  readonly afterRequests?: number
  readonly maxRssMb?: number
  readonly maxTensors?: number
}

/** Why this replica must be recycled, or undefined while it is within every limit. */
export const recycleReason = (counters: ActorCounters, limits: RecycleLimits | undefined): string | undefined => {
  if (limits === undefined) return undefined
  const served = counters.served + counters.errors
  if (limits.afterRequests !== undefined && served >= limits.afterRequests) {
    return `served ${served} requests (limit ${limits.afterRequests})`
  }
  const rssMb = counters.rssBytes / (1024 * 1024)
  if (limits.maxRssMb !== undefined && rssMb >= limits.maxRssMb) {
    return `resident memory ${rssMb.toFixed(0)} MB (limit ${limits.maxRssMb})`
  }
  if (limits.maxTensors !== undefined && counters.tensors >= limits.maxTensors) {
    return `${counters.tensors} live tensors (limit ${limits.maxTensors})`
  }
  return undefined
}
