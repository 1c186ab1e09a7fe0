// The rules for requests held while a model has no replica, as pure functions: whether one more
// fits the bounds (count and bytes), and how long it may wait (its own timeoutMs, else a ceiling).
import type { AutoscalePolicy } from "./autoscalePolicy.js"

/** The longest a request without a timeoutMs of its own is held: a caller that waits longer is rare. */
export const MAX_HOLD_MS = 60_000

export interface HeldTotals {
  readonly count: number
  readonly bytes: number
}

/** Undefined when a request of `size` bytes may be held, else why it is refused (Overloaded). */
export const holdRefusal = (
  held: HeldTotals,
  size: number,
  policy: Pick<AutoscalePolicy, "maxHeldRequests" | "maxHeldBytes">,
  model: string
): string | undefined => {
  if (held.count + 1 > policy.maxHeldRequests)
    return `model ${model} is waking from zero and already holds ${held.count} requests (autoscale.maxHeldRequests)`
  if (held.bytes + size > policy.maxHeldBytes)
    return `model ${model} is waking from zero and holds ${held.bytes} bytes of requests; ${size} more would pass autoscale.maxHeldBytes (${policy.maxHeldBytes})`
  return undefined
}

/** How long a request may be held: its `timeoutMs` when the body has a valid one, capped at MAX_HOLD_MS. */
export const holdLimitMs = (body: unknown): number => {
  const timeoutMs =
    typeof body === "object" && body !== null && "timeoutMs" in body
      ? (body as { timeoutMs: unknown }).timeoutMs
      : undefined
  return typeof timeoutMs === "number" && timeoutMs > 0 ? Math.min(timeoutMs, MAX_HOLD_MS) : MAX_HOLD_MS
}
