// A model's canary as the registry records it (a KV entry beside the model's versions): the candidate,
// the split, the sticky key, the shadow share, the guard, and how it ended; plus the sticky key's grammar.
import * as Schema from "effect/Schema"
import { decoderOf } from "../protocol/schemaIssues.js"
import { ModelVersion } from "./versions.js"

/** `running`: replicas split traffic; `aborted`: back to stable only; `promoted`: the candidate became current. */
export const CanaryPhase = { running: "running", aborted: "aborted", promoted: "promoted" } as const
export type CanaryPhase = (typeof CanaryPhase)[keyof typeof CanaryPhase]

const Text = Schema.String.check(Schema.isMaxLength(4096))
const Share = Schema.Number.check(Schema.isBetween({ minimum: 0, maximum: 100 }))
const Fraction = Schema.Number.check(Schema.isBetween({ minimum: 0, maximum: 1 }))

/**
 * The guard: thresholds each replica checks over its own sliding window after every candidate
 * observation; the first crossed (with at least `minSamples` behind it) aborts the canary.
 */
export const CanaryGuard = Schema.Struct({
  /** Length of the sliding window, ms. */
  windowMs: Schema.Int.check(Schema.isBetween({ minimum: 1_000, maximum: 86_400_000 })),
  /** Observations a figure needs inside the window before it can abort. */
  minSamples: Schema.Int.check(Schema.isGreaterThanOrEqualTo(1)),
  /** Candidate errors over candidate runs (its answers and its shadow runs), at most. */
  maxErrorRate: Schema.optionalKey(Fraction),
  /** The candidate's p99 latency over the stable version's, at most. */
  maxP99Ratio: Schema.optionalKey(Schema.Number.check(Schema.isGreaterThan(0))),
  /** Shadowed requests on which both versions agree (argmax of every row), at least. */
  minAgreement: Schema.optionalKey(Fraction)
})
export type CanaryGuard = typeof CanaryGuard.Type

export const CanaryState = Schema.Struct({
  /** Random, new for every canary: replicas tell canaries apart by it, and it salts the sticky hash. */
  id: Schema.String.check(Schema.isNonEmpty(), Schema.isMaxLength(64)),
  model: Text,
  /** The current version when the canary started (the one it is compared with). */
  stable: Schema.Int.check(Schema.isGreaterThanOrEqualTo(1)),
  /** The candidate: a published version picked again, or new artifacts under the next version number. */
  candidate: ModelVersion,
  /** Share of requests the candidate answers, 0..100. */
  percent: Share,
  /** Share of the stable version's requests re-run on the candidate after the reply, 0..100. */
  shadow: Share,
  /** `header:NAME` or an input name: the split is then a hash of that value, so one key gets one version. */
  stickyKey: Schema.optionalKey(Text),
  guard: Schema.optionalKey(CanaryGuard),
  startedAt: Text,
  phase: Schema.Literals(Object.values(CanaryPhase)),
  endedAt: Schema.optionalKey(Text),
  /** Why it ended (an operator's abort, a guard's threshold with its figures, a replica that could not load it). */
  reason: Schema.optionalKey(Text),
  /** `operator`, or the replica (actor id) whose guard or load ended it. */
  endedBy: Schema.optionalKey(Text),
  /** The guard threshold crossed, and the figures it was crossed with. */
  threshold: Schema.optionalKey(Text),
  figures: Schema.optionalKey(Schema.Record(Schema.String, Schema.Number))
})
export type CanaryState = typeof CanaryState.Type

export const decodeCanaryState = decoderOf(CanaryState, "canary")

/** The KV key of a model's canary: never a model name (those hold no dot), so it never reads as one. */
export const canaryKey = (model: string): string => `canary.${model}`

/** Where the sticky key is read: a NATS header, or one of the model's inputs (its bytes). */
export type StickyKey =
  | { readonly kind: "header"; readonly name: string }
  | { readonly kind: "input"; readonly name: string }

const HEADER_PREFIX = "header:"

/** `header:NAME` → a header; anything else names an input. Undefined when there is no name. */
export const parseStickyKey = (text: string): StickyKey | undefined => {
  if (text.startsWith(HEADER_PREFIX)) {
    const name = text.slice(HEADER_PREFIX.length).trim()
    return name === "" ? undefined : { kind: "header", name }
  }
  const name = text.trim()
  return name === "" ? undefined : { kind: "input", name }
}
