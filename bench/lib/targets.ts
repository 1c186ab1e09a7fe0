// The soak's target (tensors unchanged, RSS growth under 5 %) judged on one run; the speed targets
// are judged on interleaved rounds instead (speedTargets.ts).
import type { Soak } from "./rows.js"

export interface TargetResult {
  readonly target: string
  readonly measured: string
  readonly required: string
  /** null: a row it needs was not measured in this run. */
  readonly pass: boolean | null
}

export const soakTargets = (soaks: ReadonlyArray<Soak>): Array<TargetResult> => {
  const out: Array<TargetResult> = []
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
