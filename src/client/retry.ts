// The client's retry policy: which failures are safe to retry (inference is idempotent), the
// Schedule that spaces the attempts, and the loop that runs them and stamps the attempts made.
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Schedule from "effect/Schedule"
import { type InferError, NoResponders, Overloaded, Timeout } from "../protocol/errors.js"

/** How a call is retried. */
export interface RetryPolicy {
  /** Total attempts, the first one included (default 5; 1 means no retry). */
  readonly attempts: number
  /** Delay before the first retry; each later one doubles it (default 25 ms). */
  readonly initialDelayMs: number
  /** No delay between attempts is longer than this, jitter included (default 1 000 ms). */
  readonly maxDelayMs: number
  /**
   * The longest one attempt waits for its reply (default: the client's `timeoutMs`); once the client
   * has seen enough replies, attempts before the last wait less (see the client's `attemptTimeout`).
   */
  readonly attemptTimeoutMs: number
}

export const DEFAULT_TIMEOUT_MS = 5_000

export const defaultRetryPolicy: RetryPolicy = {
  attempts: 5,
  initialDelayMs: 25,
  maxDelayMs: 1_000,
  attemptTimeoutMs: DEFAULT_TIMEOUT_MS
}

/** The failures a retry can cure: nobody answered in time, nobody is subscribed yet, or the replica was full. */
export type RetryableError = Timeout | NoResponders | Overloaded

export const isRetryable = (error: InferError): error is RetryableError =>
  error._tag === "Timeout" || error._tag === "NoResponders" || error._tag === "Overloaded"

/** `base` with `override` laid over it, values made sane (whole attempts ≥ 1, delays ≥ 0, timeout > 0). */
export const resolveRetryPolicy = (
  base: RetryPolicy,
  override: Partial<RetryPolicy> | false | undefined
): RetryPolicy => {
  const merged =
    override === false
      ? { ...base, attempts: 1 }
      : override === undefined
        ? base
        : { ...base, ...definedOnly(override) }
  const initialDelayMs = Math.max(0, merged.initialDelayMs)
  return {
    attempts: Math.max(1, Math.floor(merged.attempts)),
    initialDelayMs,
    maxDelayMs: Math.max(initialDelayMs, merged.maxDelayMs),
    attemptTimeoutMs: merged.attemptTimeoutMs > 0 ? merged.attemptTimeoutMs : base.attemptTimeoutMs
  }
}

const definedOnly = (o: Partial<RetryPolicy>): Partial<RetryPolicy> => {
  const out: { -readonly [K in keyof RetryPolicy]?: number } = {}
  for (const key of ["attempts", "initialDelayMs", "maxDelayMs", "attemptTimeoutMs"] as const) {
    const value = o[key]
    if (typeof value === "number" && !Number.isNaN(value)) out[key] = value
  }
  return out
}

/**
 * The delays between attempts: exponential from `initialDelayMs` (×2 each retry), jittered
 * (×0.8–1.2), capped at `maxDelayMs`; it stops after `attempts - 1` retries or at the first
 * failure that is not retryable.
 */
export const retrySchedule = (policy: RetryPolicy): Schedule.Schedule<Duration.Duration, InferError> => {
  const cap = Duration.millis(policy.maxDelayMs)
  return Schedule.exponential(Duration.millis(policy.initialDelayMs)).pipe(
    Schedule.jittered,
    Schedule.modifyDelay(({ duration }) => Effect.succeed(Duration.min(duration, cap))),
    Schedule.upTo({ times: policy.attempts - 1 }),
    Schedule.setInputType<InferError>(),
    Schedule.while(({ input }) => isRetryable(input))
  )
}

/** A policy ready to run: its schedule built once (undefined when there is a single attempt). */
export interface RetryPlan {
  readonly policy: RetryPolicy
  readonly schedule: Schedule.Schedule<Duration.Duration, InferError> | undefined
}

export const retryPlan = (policy: RetryPolicy): RetryPlan => ({
  policy,
  schedule: policy.attempts > 1 ? retrySchedule(policy) : undefined
})

/** The same error, carrying the number of attempts made (only the retryable errors have the field). */
export const withAttempts = (error: InferError, attempts: number): InferError => {
  switch (error._tag) {
    case "Timeout":
      return new Timeout({ message: error.message, subject: error.subject, timeoutMs: error.timeoutMs, attempts })
    case "NoResponders":
      return new NoResponders({ message: error.message, subject: error.subject, attempts })
    case "Overloaded":
      return new Overloaded({ message: error.message, attempts })
    default:
      return error
  }
}

/**
 * Runs `attempt` (given its 1-based number) and, while it fails with a retryable error, again under
 * the plan's schedule. The first attempt runs without stepping any schedule, so a call that
 * succeeds at once costs one `catch` more than no retry at all. Fails with the last error, stamped
 * with the attempts made and passed through `gaveUp` (where a caller counts its failures).
 */
export const retrying = <A>(
  attempt: (n: number) => Effect.Effect<A, InferError>,
  plan: RetryPlan,
  gaveUp: (error: InferError) => InferError = (error) => error
): Effect.Effect<A, InferError> => {
  let made = 0
  const next = Effect.suspend(() => attempt(++made))
  return Effect.catch(next, (error) => {
    if (plan.schedule === undefined || !isRetryable(error)) return Effect.fail(gaveUp(withAttempts(error, made)))
    // Hand the schedule the failure we already have, then run the next attempts through it.
    let pending: InferError | undefined = error
    const again = Effect.suspend(() => {
      if (pending === undefined) return next
      const first = pending
      pending = undefined
      return Effect.fail(first)
    })
    return again.pipe(
      Effect.retry(plan.schedule),
      Effect.mapError((last) => gaveUp(withAttempts(last, made)))
    )
  })
}
