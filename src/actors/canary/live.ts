// A canary as one replica runs it: the candidate beside the current version, the split and shadow shares,
// the figures per version, and the guard checked after every candidate observation; plus the request path's hooks.

import type { HostTensor } from "../../protocol/tensor.js"
import type { CanaryGuard, CanaryState, StickyKey } from "../../registry/canaryState.js"
import { parseStickyKey } from "../../registry/canaryState.js"
import type { ServingVersion } from "../servingModel.js"
import {
  type Comparison,
  countRequest,
  countShadow,
  emptyFigures,
  type Figures,
  type FiguresWindow,
  makeWindow,
  slotAt,
  windowTotals
} from "./figures.js"
import { type GuardVerdict, guardVerdict } from "./guard.js"
import type { ShadowRunner } from "./shadow.js"
import { type KeyedRequest, saltOf, stickyDraw } from "./split.js"

export type GuardAbort = Extract<GuardVerdict, { readonly _tag: "Abort" }>

export interface LiveCanary {
  readonly state: CanaryState
  readonly candidate: ServingVersion
  /** The candidate's share of requests, 0..1 (0 once the guard stopped it on this replica). */
  share: number
  /** The share of the stable version's answers re-run on the candidate, 0..1. */
  shadowShare: number
  readonly sticky: StickyKey | undefined
  readonly salt: Uint8Array
  /** Counted since this replica took the canary up (what `canary status` reads). */
  readonly figures: Figures
  /** The guard's sliding window (with a guard). */
  readonly window: FiguresWindow | undefined
  readonly guard: CanaryGuard | undefined
  /** Set once the shadow runner exists (right after the canary is made). */
  shadow: ShadowRunner | undefined
  /** True once the guard crossed a threshold here: the candidate then answers and shadows nothing more. */
  halted: boolean
  /** Told once, when the guard crosses a threshold on this replica. */
  readonly onAbort: (verdict: GuardAbort) => void
  /** Monotonic ms (performance.now() in an actor; a test's clock in tests). */
  readonly now: () => number
}

export const makeLiveCanary = (
  state: CanaryState,
  candidate: ServingVersion,
  onAbort: (verdict: GuardAbort) => void,
  now: () => number = () => performance.now()
): LiveCanary => ({
  state,
  candidate,
  share: state.percent / 100,
  shadowShare: state.shadow / 100,
  sticky: state.stickyKey === undefined ? undefined : parseStickyKey(state.stickyKey),
  salt: saltOf(state.id),
  figures: emptyFigures(),
  window: state.guard === undefined ? undefined : makeWindow(state.guard.windowMs),
  guard: state.guard,
  shadow: undefined,
  halted: false,
  onAbort,
  now
})

/** Stops the candidate on this replica: it answers and shadows nothing more. */
export const haltCanary = (canary: LiveCanary): void => {
  canary.halted = true
  canary.share = 0
  canary.shadowShare = 0
  canary.shadow?.stop()
}

/** The guard's verdict on the window now; an abort halts the canary here and is told once. */
export const checkGuard = (canary: LiveCanary): void => {
  const { guard, window } = canary
  if (canary.halted || guard === undefined || window === undefined) return
  const verdict = guardVerdict(guard, windowTotals(window, canary.now(), guard.maxP99Ratio !== undefined))
  if (verdict._tag === "Hold") return
  haltCanary(canary)
  canary.onAbort(verdict)
}

const count = (canary: LiveCanary, candidate: boolean, ms: number, failed: boolean) => {
  countRequest(canary.figures, candidate, ms, failed)
  if (canary.window === undefined) return
  countRequest(slotAt(canary.window, canary.now()), candidate, ms, failed)
  if (candidate) checkGuard(canary)
}

/** Counts a shadow run's outcome (both since the start and in the window), then asks the guard. */
export const shadowed = (canary: LiveCanary, outcome: Comparison | "failed" | "dropped"): void => {
  countShadow(canary.figures, outcome)
  if (canary.window === undefined) return
  countShadow(slotAt(canary.window, canary.now()), outcome)
  if (outcome !== "dropped") checkGuard(canary)
}

/**
 * The inputs copied out of the request's message: a decoded tensor is a view of the bytes that arrived,
 * which can be a slice of a large read buffer; a shadow run waiting for its turn must not keep that alive.
 */
const ownCopy = (inputs: Readonly<Record<string, HostTensor>>): Record<string, HostTensor> => {
  const copy: Record<string, HostTensor> = {}
  for (const name in inputs) {
    const t = inputs[name]!
    copy[name] = { dtype: t.dtype, shape: t.shape, data: t.data.slice() }
  }
  return copy
}

/** The request's draw for the split: the hash of its sticky key, else a random number. */
export const drawOf = (canary: LiveCanary, msg: KeyedRequest, inputs: Readonly<Record<string, HostTensor>>): number =>
  canary.sticky === undefined ? Math.random() : stickyDraw(canary.sticky, canary.salt, msg, inputs)

/**
 * After a request was answered by `version` in `ms` ms: counted for its version; a stable answer is
 * offered to the shadow runner with the outputs it was given (the shadow share decides). Never throws:
 * the reply is sent already, and the request path must not answer twice.
 */
export const canaryAnswered = (
  canary: LiveCanary,
  job: { readonly inputs: Readonly<Record<string, HostTensor>>; readonly outputs: ReadonlyArray<string> | undefined },
  version: ServingVersion,
  computed: Readonly<Record<string, HostTensor>>,
  ms: number
): void => {
  try {
    const candidate = version === canary.candidate
    count(canary, candidate, ms, false)
    if (!candidate && canary.shadowShare > 0 && canary.shadow !== undefined && Math.random() < canary.shadowShare) {
      canary.shadow.offer({ inputs: ownCopy(job.inputs), outputs: job.outputs, expected: computed })
    }
  } catch {
    // figures are best effort; the caller has its answer
  }
}

/** After a request failed on `version`: a model failure counts as its version's error (a missed deadline does not). Never throws. */
export const canaryFailed = (canary: LiveCanary, version: ServingVersion, ms: number, modelFailed: boolean): void => {
  try {
    if (modelFailed) count(canary, version === canary.candidate, ms, true)
  } catch {
    // figures are best effort; the caller has its answer
  }
}
