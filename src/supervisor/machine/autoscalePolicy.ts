// A model's autoscaling policy as plain data, its defaults and the checks the config makes of it:
// bounds on the replica count, the load wanted per replica, and how long a trend must last.

export interface AutoscalePolicy {
  /** Fewest replicas the model keeps (every supervisor running it together). */
  readonly min: number
  /** Most replicas the model may have (every supervisor running it together). */
  readonly max: number
  /** Requests in flight (queued and running) wanted per replica. */
  readonly targetInflight: number
  /** How long load must stay above the target before replicas are added. */
  readonly upscaleDelayMs: number
  /** How long load must stay below the target before replicas are removed. */
  readonly downscaleDelayMs: number
  /** The window load is averaged over, so one busy heartbeat does not count as a trend. */
  readonly lookbackMs: number
  /** Requests held while the model has no replica (min 0); past it they get Overloaded. */
  readonly maxHeldRequests: number
  /** Bytes of request bodies held while the model has no replica; past it they get Overloaded. */
  readonly maxHeldBytes: number
}

/**
 * The defaults and why: one replica at least (a model answers at once); 2 requests in flight per
 * replica keeps the batcher fed without letting a queue grow; up after 2 s (a warm standby takes a
 * slot in ~50 ms, so adding is cheap); down after 60 s (a replica's model load costs seconds, so
 * removing is what must be sure); load averaged over 5 s. `max` defaults to the host budget. At
 * zero, up to 1000 requests or 64 MiB wait for the waking replica: a burst, not a backlog.
 */
export const DEFAULT_AUTOSCALE = {
  min: 1,
  targetInflight: 2,
  upscaleDelayMs: 2_000,
  downscaleDelayMs: 60_000,
  lookbackMs: 5_000,
  maxHeldRequests: 1_000,
  maxHeldBytes: 64 * 1024 * 1024
} as const

export type AutoscaleEntry = Partial<AutoscalePolicy>

/** The policy a config entry gives, `maxActors` being the default `max`. */
export const autoscalePolicyOf = (entry: AutoscaleEntry, maxActors: number): AutoscalePolicy => {
  const min = entry.min ?? DEFAULT_AUTOSCALE.min
  return {
    min,
    max: entry.max ?? Math.max(min, maxActors),
    targetInflight: entry.targetInflight ?? DEFAULT_AUTOSCALE.targetInflight,
    upscaleDelayMs: entry.upscaleDelayMs ?? DEFAULT_AUTOSCALE.upscaleDelayMs,
    downscaleDelayMs: entry.downscaleDelayMs ?? DEFAULT_AUTOSCALE.downscaleDelayMs,
    lookbackMs: entry.lookbackMs ?? DEFAULT_AUTOSCALE.lookbackMs,
    maxHeldRequests: entry.maxHeldRequests ?? DEFAULT_AUTOSCALE.maxHeldRequests,
    maxHeldBytes: entry.maxHeldBytes ?? DEFAULT_AUTOSCALE.maxHeldBytes
  }
}

/** A policy value the config must refuse: the key and why (undefined when the policy holds). */
export interface PolicyProblem {
  readonly key: "min" | "max" | "replicas"
  readonly message: string
}

/** What is wrong with a policy, given the replicas it starts with and the host budget. */
export const policyProblem = (
  policy: AutoscalePolicy,
  replicas: number,
  maxActors: number
): PolicyProblem | undefined => {
  if (policy.min > policy.max)
    return { key: "min", message: `autoscale.min (${policy.min}) is above autoscale.max (${policy.max})` }
  if (policy.max > maxActors)
    return {
      key: "max",
      message: `autoscale.max (${policy.max}) is above supervisor.maxActors (${maxActors}), the actors this host may run`
    }
  if (replicas > policy.max)
    return {
      key: "replicas",
      message: `replicas (${replicas}), the count to start with, is above autoscale.max (${policy.max})`
    }
  return undefined
}
