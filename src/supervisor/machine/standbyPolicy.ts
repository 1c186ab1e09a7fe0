// How a supervisor's pool of standby processes refills, as pure functions: a standby that died is
// replaced after a backoff (exponential, reset by a long life) so a broken environment never fork-loops.
import { type BackoffPolicy, backoffDelay, nextAttempt } from "./backoff.js"

/** Standbys a supervisor keeps when the config does not say (`supervisor.standby`). */
export const DEFAULT_STANDBY = 1

/** Replacing standbys that died: at once after a long life, else after 1 s, 2 s, 4 s … up to 30 s. */
export const STANDBY_BACKOFF: BackoffPolicy = { initialMs: 1_000, maxMs: 30_000, jitter: 0.2, resetAfterMs: 30_000 }

export interface StandbyRetry {
  /** Deaths in a row without a long life between them (0: replace at once). */
  readonly attempt: number
  readonly delayMs: number
}

/** When to replace a standby that died after `livedMs`, its slot's previous attempt being `previousAttempt`; `random` in [0, 1). */
export const standbyRetry = (
  previousAttempt: number,
  livedMs: number,
  random: number,
  policy: BackoffPolicy = STANDBY_BACKOFF
): StandbyRetry => {
  const attempt = nextAttempt(previousAttempt, livedMs, policy)
  return { attempt, delayMs: attempt === 0 ? 0 : backoffDelay(attempt - 1, policy, random) }
}
