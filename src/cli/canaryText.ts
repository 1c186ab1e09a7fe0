// The canary command's words (pure): the --guard grammar read into thresholds, and the text the
// commands print (the canary started or ended, the figures per version as a table).
import type { CanaryRollout, GuardOptions, PromoteResult } from "../client/canary.js"
import type { CanaryReport, VersionReport } from "../client/canaryReport.js"
import type { CanaryGuard, CanaryState } from "../registry/canaryState.js"

const NUMBER_KEYS = {
  "max-error-rate": "maxErrorRate",
  "max-p99-ratio": "maxP99Ratio",
  "min-agreement": "minAgreement"
} as const

/** `30s`, `500ms`, `2m` or a number of ms, as ms; undefined when it is none of those. */
const durationMs = (text: string): number | undefined => {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m)?$/.exec(text.trim())
  if (m === null) return undefined
  const n = Number(m[1])
  return m[2] === "s" ? n * 1000 : m[2] === "m" ? n * 60_000 : n
}

/**
 * `--guard min-agreement=0.9,max-error-rate=0.01,max-p99-ratio=1.5,min-samples=100,window=60s` read
 * into thresholds, or a message saying which part is wrong and what is expected.
 */
export const parseGuard = (text: string): GuardOptions | string => {
  const guard: Record<string, number> = {}
  const known = [...Object.keys(NUMBER_KEYS), "min-samples", "window"].join(", ")
  for (const part of text.split(",")) {
    if (part.trim() === "") continue
    const eq = part.indexOf("=")
    const key = (eq < 0 ? part : part.slice(0, eq)).trim()
    const value = eq < 0 ? "" : part.slice(eq + 1).trim()
    if (key in NUMBER_KEYS) {
      const n = Number(value)
      if (value === "" || !Number.isFinite(n))
        return `--guard ${key}: expected a number, received ${JSON.stringify(value)}`
      guard[NUMBER_KEYS[key as keyof typeof NUMBER_KEYS]] = n
    } else if (key === "min-samples") {
      const n = Number(value)
      if (!Number.isSafeInteger(n) || n < 1)
        return `--guard min-samples: expected a whole number of at least 1, received ${JSON.stringify(value)}`
      guard.minSamples = n
    } else if (key === "window") {
      const ms = durationMs(value)
      if (ms === undefined || ms < 1000)
        return `--guard window: expected a duration of at least 1s (like 30s, 2m or 5000ms), received ${JSON.stringify(value)}`
      guard.windowMs = Math.round(ms)
    } else return `--guard: unknown threshold ${JSON.stringify(key)}; expected key=value pairs of ${known}`
  }
  return guard
}

const seconds = (ms: number) => `${Math.round(ms / 100) / 10} s`

export const guardText = (g: CanaryGuard): string => {
  const thresholds = [
    g.minAgreement === undefined ? undefined : `min-agreement=${g.minAgreement}`,
    g.maxErrorRate === undefined ? undefined : `max-error-rate=${g.maxErrorRate}`,
    g.maxP99Ratio === undefined ? undefined : `max-p99-ratio=${g.maxP99Ratio}`
  ].filter((t) => t !== undefined)
  return `${thresholds.join(", ")} over ${seconds(g.windowMs)} (min ${g.minSamples} samples)`
}

/** The split in words: the share, the sticky key, the shadow share and the guard. */
export const splitText = (s: CanaryState): string =>
  [
    `${s.percent}% of requests`,
    s.stickyKey === undefined ? undefined : `sticky by ${s.stickyKey}`,
    s.shadow > 0 ? `shadow ${s.shadow}%` : undefined,
    s.guard === undefined ? undefined : `guard ${guardText(s.guard)}`
  ]
    .filter((t) => t !== undefined)
    .join("; ")

const pendingText = (pending: ReadonlyArray<string>) => (pending.length > 0 ? `; not yet: ${pending.join(", ")}` : "")

export const startedLine = (r: CanaryRollout): string =>
  `${r.model}: canary v${r.canary.candidate.version} beside v${r.canary.stable} on ${r.acked.length} replica(s): ${splitText(r.canary)}${pendingText(r.pending)}`

export const abortedLine = (r: CanaryRollout): string =>
  `${r.model}: canary v${r.canary.candidate.version} aborted; ${r.acked.length} replica(s) serve v${r.canary.stable} only${pendingText(r.pending)}`

export const promotedLine = (r: PromoteResult): string =>
  `${r.model} v${r.version} (the canary's candidate${r.version === r.canary.candidate.version ? "" : ` v${r.canary.candidate.version}`}) is current: ${r.acked.length} replica(s) serving it in ${r.rolloutMs} ms${pendingText(r.pending)}`

const ms = (x: number | null) => (x === null ? "-" : x.toFixed(2))

const row = (label: string, v: VersionReport) => [
  `v${v.version} ${label}`,
  String(v.requests),
  String(v.errors),
  ms(v.p50Ms),
  ms(v.p99Ms)
]

/** The canary and its figures per version as a table (pure). */
export const renderReport = (r: CanaryReport): string => {
  const s = r.canary
  const head = `${r.model}: canary v${s.candidate.version} (${s.candidate.source}) beside v${s.stable}, ${s.phase} since ${s.endedAt ?? s.startedAt}: ${splitText(s)}`
  const ended =
    s.phase === "running" ? [] : [`${s.phase}${s.endedBy === undefined ? "" : ` by ${s.endedBy}`}: ${s.reason ?? ""}`]
  const shadow = r.shadow
  const table = [
    ["VERSION", "REQUESTS", "ERRORS", "P50 MS", "P99 MS"],
    row("stable", r.stable),
    row("candidate", r.candidate)
  ]
  const widths = table[0]!.map((_, i) => Math.max(...table.map((t) => t[i]!.length)))
  const lines = table.map((t) =>
    t
      .map((cell, i) => cell.padEnd(widths[i]!))
      .join("  ")
      .trimEnd()
  )
  const shadowLine =
    shadow.samples + shadow.errors + shadow.dropped === 0
      ? "shadow: none compared"
      : `shadow: ${shadow.samples} compared, agreement ${shadow.agreement === null ? "-" : `${(shadow.agreement * 100).toFixed(1)}%`}, max |difference| ${shadow.maxAbsDiff.toPrecision(3)}, mean ${shadow.meanAbsDiff === null ? "-" : shadow.meanAbsDiff.toPrecision(3)}; ${shadow.errors} failed, ${shadow.dropped} dropped`
  return [head, ...ended, "", ...lines, shadowLine, `replicas: ${r.replicas.join(", ") || "none answered"}`].join("\n")
}
