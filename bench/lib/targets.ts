// The targets computed from the rows of one run: measured figure beside the target,
// pass or miss (or "not measured" when a row it needs is missing).
import { type Row, Section, type Soak } from "./rows.js"

export interface TargetResult {
  readonly target: string
  readonly measured: string
  readonly required: string
  /** null: a row it needs was not measured in this run. */
  readonly pass: boolean | null
}

const find = (rows: ReadonlyArray<Row>, f: (r: Row) => boolean) => rows.filter(f)
const best = (rows: ReadonlyArray<Row>) =>
  rows.reduce<Row | undefined>(
    (a, r) => (a === undefined || r.summary.perSecond > a.summary.perSecond ? r : a),
    undefined
  )
const rate = (n: number) => `${Math.round(n).toLocaleString("en-US")}/s`
const ms = (n: number) => `${n.toFixed(3)} ms`

/** modelbus rows of a model at a concurrency, the best variant first. */
const modelbusAt = (rows: ReadonlyArray<Row>, model: string, c: number) =>
  find(rows, (r) => r.section === Section.modelbus && r.model === model && r.concurrency === c).sort(
    (a, b) => b.summary.perSecond - a.summary.perSecond
  )

export const computeTargets = (rows: ReadonlyArray<Row>, soaks: ReadonlyArray<Soak>): Array<TargetResult> => {
  const out: Array<TargetResult> = []
  const missing = (target: string, required: string, what: string): TargetResult => ({
    target,
    required,
    measured: `not measured (${what})`,
    pass: null
  })

  {
    const target = "iris, c=64: modelbus ≥ 0.6 × muxed echo ceiling"
    const mb = modelbusAt(rows, "iris", 64)[0]
    const echo = find(
      rows,
      (r) =>
        r.section === Section.messaging && r.model === "iris" && r.concurrency === 64 && r.scenario.includes("muxed")
    )[0]
    if (mb === undefined || echo === undefined)
      out.push(missing(target, "≥ 0.60×", "needs modelbus and muxed echo at c=64"))
    else {
      const ratio = mb.summary.perSecond / echo.summary.perSecond
      out.push({
        target,
        required: `≥ ${rate(0.6 * echo.summary.perSecond)} (0.60 × ${rate(echo.summary.perSecond)})`,
        measured: `${rate(mb.summary.perSecond)} = ${ratio.toFixed(3)}× (${mb.scenario})`,
        pass: ratio >= 0.6
      })
    }
  }
  {
    const target = "cnn, c=64: modelbus ≥ 0.85 × in-process ceiling"
    const mb = modelbusAt(rows, "cnn", 64)[0]
    const ceiling = best(find(rows, (r) => r.section === Section.ceiling && r.model === "cnn" && r.concurrency > 1))
    if (mb === undefined || ceiling === undefined)
      out.push(missing(target, "≥ 0.85×", "needs modelbus c=64 and the ceiling"))
    else {
      const ratio = mb.summary.perSecond / ceiling.summary.perSecond
      out.push({
        target,
        required: `≥ ${rate(0.85 * ceiling.summary.perSecond)} (0.85 × ${rate(ceiling.summary.perSecond)} samples, batch ${ceiling.batch})`,
        measured: `${rate(mb.summary.perSecond)} = ${ratio.toFixed(3)}× (${mb.scenario})`,
        pass: ratio >= 0.85
      })
    }
  }
  for (const model of ["iris", "cnn"]) {
    const target = `${model}, c=1: p50 ≤ NATS round trip p50 + model time p50 + 0.3 ms`
    const mb = modelbusAt(rows, model, 1).sort((a, b) => a.summary.p50Ms - b.summary.p50Ms)[0]
    const echo = find(
      rows,
      (r) => r.section === Section.messaging && r.model === model && r.concurrency === 1 && r.scenario.includes("muxed")
    )[0]
    const single = find(
      rows,
      (r) => r.section === Section.ceiling && r.model === model && r.concurrency === 1 && r.batch === 1
    )[0]
    if (mb === undefined || echo === undefined || single === undefined)
      out.push(missing(target, "", "needs modelbus c=1, muxed echo c=1 and the 1-process model time"))
    else {
      const limit = echo.summary.p50Ms + single.summary.p50Ms + 0.3
      out.push({
        target,
        required: `≤ ${ms(limit)} (${ms(echo.summary.p50Ms)} + ${ms(single.summary.p50Ms)} + 0.3)`,
        measured: `${ms(mb.summary.p50Ms)} (${mb.scenario})`,
        pass: mb.summary.p50Ms <= limit
      })
    }
  }
  for (const model of ["iris", "cnn"]) {
    const target = `${model}, c=64: modelbus ≥ 2 × Moleculer, with a lower p99`
    const mb = modelbusAt(rows, model, 64)[0]
    const peer = best(find(rows, (r) => r.section === Section.peer && r.model === model && r.concurrency === 64))
    if (mb === undefined || peer === undefined) out.push(missing(target, "", "needs modelbus and Moleculer at c=64"))
    else {
      const ratio = mb.summary.perSecond / peer.summary.perSecond
      out.push({
        target,
        required: `≥ ${rate(2 * peer.summary.perSecond)} and p99 < ${ms(peer.summary.p99Ms)} (${peer.scenario}: ${rate(peer.summary.perSecond)})`,
        measured: `${rate(mb.summary.perSecond)} = ${ratio.toFixed(2)}×, p99 ${ms(mb.summary.p99Ms)}`,
        pass: ratio >= 2 && mb.summary.p99Ms < peer.summary.p99Ms
      })
    }
  }
  for (const soak of soaks) {
    const target = `${soak.model}, ${soak.requests.toLocaleString("en-US")} requests: tensors unchanged, RSS growth < 5 %`
    const growth = soak.actors.map((a) =>
      a.peakRssMbWarmup > 0 ? a.peakRssMbDuring / a.peakRssMbWarmup - 1 : Number.NaN
    )
    const tensorsSame = soak.actors.every((a) => a.tensorsBefore === a.tensorsAfter && a.tensorsBefore >= 0)
    out.push({
      target,
      required: "tensors equal; peak RSS in the soak < 1.05 × peak RSS in the warm-up, per actor",
      measured:
        soak.actors
          .map(
            (a, i) =>
              `${a.id}: tensors ${a.tensorsBefore}→${a.tensorsAfter}, peak RSS ${a.peakRssMbWarmup}→${a.peakRssMbDuring} MB (${(growth[i]! * 100).toFixed(1)} %)`
          )
          .join("; ") + (soak.errors > 0 ? `; ${soak.errors} errors` : ""),
      pass: tensorsSame && growth.every((g) => g < 0.05) && soak.errors === 0
    })
  }
  return out
}
