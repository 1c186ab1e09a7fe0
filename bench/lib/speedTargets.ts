// The speed targets judged on interleaved rounds: each figure is computed within a
// round, from windows measured back to back, and reported as the median of the rounds with the spread.

import { type Spread, spreadOf } from "./interleave.js"
import type { InterleavedResult, RoundFigures } from "./interleavedTargets.js"
import type { TargetResult } from "./targets.js"

const f = (x: number, digits: number) => (Number.isFinite(x) ? x.toFixed(digits) : "-")
const spreadText = (s: Spread, digits: number, unit = "") =>
  `${f(s.median, digits)}${unit} (${f(s.min, digits)}–${f(s.max, digits)})`

interface Rule {
  readonly models: ReadonlyArray<string>
  readonly target: (model: string) => string
  readonly required: string
  /** The figure of one round. */
  readonly figure: (r: RoundFigures) => number
  readonly pass: (median: number) => boolean
  readonly digits: number
  readonly unit?: string
  /** What the figure is made of, from the medians (for the reader). */
  readonly detail: (m: (k: keyof RoundFigures) => number) => string
}

const RULES: ReadonlyArray<Rule> = [
  {
    models: ["iris"],
    target: (m) => `${m}, c=64: modelbus ÷ muxed NATS echo`,
    required: "≥ 0.60×",
    figure: (r) => r.modelbusPerSecond / r.echoPerSecond,
    pass: (x) => x >= 0.6,
    digits: 3,
    unit: "×",
    detail: (m) => `modelbus ${f(m("modelbusPerSecond"), 0)}/s, echo ${f(m("echoPerSecond"), 0)}/s`
  },
  {
    models: ["cnn"],
    target: (m) => `${m}, c=64: modelbus ÷ best in-process batch size (2 processes)`,
    required: "≥ 0.90×",
    figure: (r) => r.modelbusPerSecond / r.ceilingPerSecond,
    pass: (x) => x >= 0.9,
    digits: 3,
    unit: "×",
    detail: (m) =>
      `modelbus ${f(m("modelbusPerSecond"), 0)}/s, in-process ${f(m("ceilingPerSecond"), 0)} samples/s at batch ${f(m("ceilingBatch"), 0)}`
  },
  {
    models: ["iris", "cnn"],
    target: (m) => `${m}, c=1: modelbus p50 − (echo p50 + model time p50)`,
    required: "≤ 0.15 ms",
    figure: (r) => r.modelbusP50Ms - r.echoP50Ms - r.modelTimeP50Ms,
    pass: (x) => x <= 0.15,
    digits: 3,
    unit: " ms",
    detail: (m) =>
      `modelbus ${f(m("modelbusP50Ms"), 3)} ms, echo ${f(m("echoP50Ms"), 3)} ms, model ${f(m("modelTimeP50Ms"), 3)} ms`
  },
  {
    models: ["iris"],
    target: (m) => `${m}, c=64: actor CPU per request outside the model`,
    required: "≤ 10 µs",
    figure: (r) => r.actorCpuUs - r.modelCpuUsPerSample,
    pass: (x) => x <= 10,
    digits: 1,
    unit: " µs",
    detail: (m) =>
      `actors ${f(m("actorCpuUs"), 1)} µs/request − model ${f(m("modelCpuUsPerSample"), 1)} µs/sample at its best batch size (the model's least cost, so this over-counts nothing)`
  },
  {
    models: ["iris"],
    target: (m) => `${m}, c=64: modelbus client CPU per request (canned replies)`,
    required: "≤ 10 µs",
    figure: (r) => r.clientCpuUs,
    pass: (x) => x <= 10,
    digits: 1,
    unit: " µs",
    detail: (m) => `the bench's bare muxed client: ${f(m("echoClientCpuUs"), 1)} µs on the echo`
  },
  {
    models: ["iris", "cnn"],
    target: (m) => `${m}, c=64: modelbus ÷ Moleculer 0.14 (msgpackr), with a lower p99`,
    required: "≥ 2× and a lower p99",
    figure: (r) => (r.modelbusP99Ms < r.peerP99Ms ? r.modelbusPerSecond / r.peerPerSecond : -1),
    pass: (x) => x >= 2,
    digits: 2,
    unit: "×",
    detail: (m) =>
      `modelbus ${f(m("modelbusPerSecond"), 0)}/s p99 ${f(m("modelbusP99Ms"), 2)} ms, Moleculer ${f(m("peerPerSecond"), 0)}/s p99 ${f(m("peerP99Ms"), 2)} ms (a round with a higher p99 counts −1)`
  }
]

/** Every rule that applies to a measured model, judged on the median of its rounds (pure). */
export const speedTargets = (results: ReadonlyArray<InterleavedResult>): Array<TargetResult> =>
  RULES.flatMap((rule) =>
    results
      .filter((r) => rule.models.includes(r.model))
      .map((r) => {
        const s = spreadOf(r.figures.map(rule.figure))
        const median = (k: keyof RoundFigures) => spreadOf(r.figures.map((x) => x[k])).median
        return {
          target: rule.target(r.model),
          required: rule.required,
          measured: `${spreadText(s, rule.digits, rule.unit)} over ${r.rounds} rounds; ${rule.detail(median)}`,
          pass: r.figures.length === 0 ? null : rule.pass(s.median)
        }
      })
  )
