// Restart backoff for one child slot, as pure functions: exponential from `initialMs`, capped
// at `maxMs`, with proportional jitter; a slot whose process lived `resetAfterMs` starts over.
export interface BackoffPolicy {
  /** Delay before the first restart of a slot. */
  readonly initialMs: number
  /** Cap of the delay before jitter. */
  readonly maxMs: number
  /** ±fraction of the delay drawn at random (0 = none). */
  readonly jitter: number
  /** A process that lived this long resets its slot's backoff. */
  readonly resetAfterMs: number
}

export const DEFAULT_BACKOFF: BackoffPolicy = { initialMs: 100, maxMs: 5_000, jitter: 0.2, resetAfterMs: 10_000 }

/** The attempt number of the next restart: 0 when the ended process lived long enough. */
export const nextAttempt = (previousAttempt: number, livedMs: number, policy: BackoffPolicy): number =>
  livedMs >= policy.resetAfterMs ? 0 : previousAttempt + 1

/** Delay before restart number `attempt` (0-based); `random` is in [0, 1). */
export const backoffDelay = (attempt: number, policy: BackoffPolicy, random: number): number => {
  const base = Math.min(policy.maxMs, policy.initialMs * 2 ** Math.min(attempt, 52))
  const spread = base * policy.jitter * (2 * random - 1)
  return Math.max(0, Math.round(base + spread))
}
