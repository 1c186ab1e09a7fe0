// How a client keeps its slowest requests short: the latency it has seen, the hedge budget, the
// counts of hedges, and the hooks the requester calls (a reply's latency, a hedge due, a timeout).
import type { Liveness } from "../nats/liveness.js"
import {
  type AttemptTimeoutPolicy,
  attemptTimeout,
  defaultAttemptTimeout,
  defaultHedgePolicy,
  type HedgeBudget,
  type HedgePolicy,
  hedgeBudget,
  hedgeDelay,
  type LatencyWindow,
  latencyWindow
} from "./latency.js"
import type { RequesterHooks } from "./requester.js"

export interface TailControl {
  readonly hooks: RequesterHooks
  /** A request was made: it earns its share of the hedge budget. */
  readonly requested: () => void
  /** How long attempt `n` of `attempts` waits, under the caller's `ceilingMs`. */
  readonly timeoutOf: (n: number, attempts: number, ceilingMs: number) => number
  /** When a second copy of a request goes out, or undefined (hedging off, or too little seen yet). */
  readonly hedgeAfter: () => number | undefined
  /** Second copies sent so far, and how many of them answered first. */
  readonly hedges: () => number
  readonly hedgesWon: () => number
  readonly window: LatencyWindow
}

/** Resolves the client's options: `hedge: false` turns hedging off, `attemptTimeout: false` waits the whole ceiling. */
export const tailControl = (
  hedge: Partial<HedgePolicy> | false | undefined,
  timeouts: Partial<AttemptTimeoutPolicy> | false | undefined,
  liveness: Liveness
): TailControl => {
  const window = latencyWindow()
  const hedging: HedgePolicy | undefined = hedge === false ? undefined : { ...defaultHedgePolicy, ...hedge }
  const budget: HedgeBudget | undefined = hedging === undefined ? undefined : hedgeBudget(hedging)
  const timeoutPolicy: AttemptTimeoutPolicy | undefined =
    timeouts === false ? undefined : { ...defaultAttemptTimeout, ...timeouts }
  let hedges = 0
  let won = 0
  return {
    hooks: {
      replied: (ms, hedged) => {
        window.record(ms)
        if (hedged) won++
      },
      hedge: () => {
        if (budget === undefined || !budget.take()) return false
        hedges++
        return true
      },
      timedOut: () => void liveness.probe()
    },
    requested: () => budget?.earn(),
    timeoutOf: (n, attempts, ceilingMs) =>
      timeoutPolicy === undefined ? ceilingMs : attemptTimeout(timeoutPolicy, window.p99(), n, attempts, ceilingMs),
    hedgeAfter: () => (hedging === undefined ? undefined : hedgeDelay(hedging, window.p99())),
    hedges: () => hedges,
    hedgesWon: () => won,
    window
  }
}
