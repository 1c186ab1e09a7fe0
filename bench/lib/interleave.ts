// Interleaved A/B(/C…) measurement for a machine whose speed drifts: every round measures each
// variant once, back to back, in a rotating order; ratios are taken pair by pair within a round.
export interface Spread {
  readonly median: number
  readonly min: number
  readonly max: number
}

/** Median, min and max of some figures (pure; NaN for none). */
export const spreadOf = (xs: ReadonlyArray<number>): Spread => {
  if (xs.length === 0) return { median: Number.NaN, min: Number.NaN, max: Number.NaN }
  const s = [...xs].sort((a, b) => a - b)
  const mid = s.length >> 1
  const median = s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2
  return { median, min: s[0]!, max: s[s.length - 1]! }
}

/** The order of round `round`: the variants rotated by the round, reversed every other round (pure). */
export const roundOrder = <A>(variants: ReadonlyArray<A>, round: number): ReadonlyArray<A> => {
  const n = variants.length
  const rotated = variants.map((_, i) => variants[(i + round) % n]!)
  return Math.floor(round / n) % 2 === 0 ? rotated : [...rotated].reverse()
}

/** Per round, `a[i] / b[i]`: the ratio of two variants measured side by side (pure). */
export const pairedRatios = (a: ReadonlyArray<number>, b: ReadonlyArray<number>): ReadonlyArray<number> =>
  a.map((x, i) => x / b[i]!)

/**
 * Runs `rounds` rounds; in each, `measure(variant)` once per variant in `roundOrder`. Returns each
 * variant's figures by round (each figure a record of named numbers).
 */
export const interleave = async <V extends string, F>(
  variants: ReadonlyArray<V>,
  rounds: number,
  measure: (variant: V, round: number) => Promise<F>,
  onFigure: (variant: V, round: number, figure: F) => void = () => {}
): Promise<Record<V, Array<F>>> => {
  const byVariant = Object.fromEntries(variants.map((v) => [v, [] as Array<F>])) as Record<V, Array<F>>
  for (let round = 0; round < rounds; round++) {
    const figures = new Map<V, F>()
    for (const v of roundOrder(variants, round)) figures.set(v, await measure(v, round))
    for (const v of variants) {
      byVariant[v].push(figures.get(v)!)
      onFigure(v, round, figures.get(v)!)
    }
  }
  return byVariant
}
