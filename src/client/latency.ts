// What the client has seen of the service's latency, and what follows from it: a fixed-size histogram
// of recent replies (O(1) per reply), its p95/p99, the hedge delay and each attempt's timeout.

/** Bucket `i` holds latencies up to `BASE_MS · GROWTH^i`: 0.05 ms to over 5 min in 144 buckets, ~12 % apart. */
const BASE_MS = 0.05
const GROWTH = 1.12
const BUCKETS = 144
const LOG_GROWTH = Math.log(GROWTH)

/** Replies per half-window: the quantiles cover the last 512 to 1 024 replies. */
const HALF_WINDOW = 512
/** The quantiles are recomputed after this many new replies (a scan of the buckets, amortised). */
const REFRESH_EVERY = 32
/** Fewer replies than this say nothing yet: the caller's ceiling applies and nothing is hedged. */
export const MIN_SAMPLES = 32

export const bucketOf = (ms: number): number => {
  if (!(ms > BASE_MS)) return 0
  let i = Math.ceil(Math.log(ms / BASE_MS) / LOG_GROWTH)
  if (boundOf(i) < ms) i++ // the logarithm rounded down
  return i < BUCKETS ? i : BUCKETS - 1
}

/** The upper bound of bucket `i`, in ms (a quantile is read as its bucket's bound: at most ~12 % high). */
export const boundOf = (i: number): number => BASE_MS * GROWTH ** i

export interface LatencyWindow {
  /** One reply's latency, from its attempt's send to its arrival. */
  readonly record: (ms: number) => void
  /** The p95 and p99 of the recent replies, or undefined before MIN_SAMPLES. */
  readonly p95: () => number | undefined
  readonly p99: () => number | undefined
  readonly samples: () => number
}

/**
 * Two histograms: the current half-window and the one before it; when the current one is full it
 * becomes the previous one. Recording is an increment; the quantiles are refreshed every
 * REFRESH_EVERY replies from both halves.
 */
export const latencyWindow = (): LatencyWindow => {
  let current = new Uint32Array(BUCKETS)
  let previous = new Uint32Array(BUCKETS)
  let inCurrent = 0
  let inPrevious = 0
  let sinceRefresh = 0
  let p95: number | undefined
  let p99: number | undefined

  const quantile = (total: number, q: number): number => {
    const rank = Math.ceil(q * total)
    let seen = 0
    for (let i = 0; i < BUCKETS; i++) {
      seen += current[i]! + previous[i]!
      if (seen >= rank) return boundOf(i)
    }
    return boundOf(BUCKETS - 1)
  }

  const refresh = () => {
    sinceRefresh = 0
    const total = inCurrent + inPrevious
    if (total < MIN_SAMPLES) return
    p95 = quantile(total, 0.95)
    p99 = quantile(total, 0.99)
  }

  return {
    record: (ms) => {
      current[bucketOf(ms)]!++
      if (++inCurrent >= HALF_WINDOW) {
        const emptied = previous
        emptied.fill(0)
        previous = current
        current = emptied
        inPrevious = inCurrent
        inCurrent = 0
      }
      if (++sinceRefresh >= REFRESH_EVERY) refresh()
    },
    p95: () => p95,
    p99: () => p99,
    samples: () => inCurrent + inPrevious
  }
}

/** How long one attempt waits, from what the service takes. */
export interface AttemptTimeoutPolicy {
  /** No attempt waits less than this (ms). */
  readonly floorMs: number
  /** The first attempt waits this many times the recent p99; each retry doubles it. */
  readonly p99Factor: number
}

export const defaultAttemptTimeout: AttemptTimeoutPolicy = { floorMs: 200, p99Factor: 5 }

/**
 * Attempt `n` (1-based) of `attempts` waits `p99Factor × p99 × 2^(n-1)` (at least `floorMs`), never
 * more than `ceilingMs` (the caller's timeout); the last attempt, and every attempt before the client
 * has seen enough replies, waits the whole ceiling. A request the service is merely slow on is
 * retried in time proportional to what the model takes, and still gets the caller's full wait.
 */
export const attemptTimeout = (
  policy: AttemptTimeoutPolicy,
  p99: number | undefined,
  n: number,
  attempts: number,
  ceilingMs: number
): number => {
  if (p99 === undefined || n >= attempts) return ceilingMs
  const ms = Math.max(policy.floorMs, policy.p99Factor * p99) * 2 ** (n - 1)
  return ms < ceilingMs ? Math.ceil(ms) : ceilingMs
}

/**
 * The step an attempt's timeout is read at (see attemptTimeout): the last attempt keeps its number
 * (it waits the whole ceiling); an earlier one counts only the attempts made on the connection it goes
 * out on (`onThisConnection`, itself included). Attempts that failed because the connection was lost
 * say nothing about the service: the first attempt on a new connection waits as briefly as a first
 * attempt, and one that meets a replica the servers still route to but cannot reach is retried soon.
 */
export const timeoutStep = (n: number, attempts: number, onThisConnection: number): number =>
  n >= attempts ? n : Math.min(n, onThisConnection)

/** When a second copy of an attempt goes out, and how many may. */
export interface HedgePolicy {
  /** A copy goes out when the first has not answered after this many times the recent p99 ... */
  readonly p99Factor: number
  /** ... but never sooner than this (ms). */
  readonly floorMs: number
  /** At most this share of requests is hedged over time (0.05: one hedge per 20 requests). */
  readonly budget: number
  /** Hedges that may go out in a burst, from budget saved while nothing needed one. */
  readonly burst: number
}

export const defaultHedgePolicy: HedgePolicy = { p99Factor: 2, floorMs: 20, budget: 0.05, burst: 10 }

/** The delay before a hedge, or undefined (no hedge) before the client has seen enough replies. */
export const hedgeDelay = (policy: HedgePolicy, p99: number | undefined): number | undefined =>
  p99 === undefined ? undefined : Math.max(policy.floorMs, policy.p99Factor * p99)

export interface HedgeBudget {
  /** A request was made: it earns `budget` of a hedge (up to `burst` saved). */
  readonly earn: () => void
  /** Takes one hedge if the budget has one. */
  readonly take: () => boolean
}

/**
 * A token bucket: each request adds `budget` tokens (at most `burst` kept), each hedge takes one.
 * Over any stretch of requests, hedges ≤ budget × requests + burst.
 */
export const hedgeBudget = (policy: HedgePolicy): HedgeBudget => {
  let tokens = 0
  return {
    earn: () => {
      tokens = Math.min(policy.burst, tokens + policy.budget)
    },
    take: () => {
      if (tokens < 1) return false
      tokens -= 1
      return true
    }
  }
}
