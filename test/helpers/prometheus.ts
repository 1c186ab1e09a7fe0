// Reading Prometheus text in tests with a real parser (parse-prometheus-text-format). That parser folds
// every series of a histogram into one, so histograms are also read with their TYPE lines left out:
// then each _bucket, _sum and _count sample keeps all its labels.
import parsePrometheusTextFormat, { type Family, type Sample } from "parse-prometheus-text-format"

export interface Scrape {
  /** The families as typed by the text (histogram series folded together by the parser). */
  readonly families: ReadonlyArray<Family>
  /** Every sample with its own labels (histograms and summaries read as untyped samples). */
  readonly flat: ReadonlyArray<Family>
}

export const parseScrape = (text: string): Scrape => ({
  families: parsePrometheusTextFormat(text),
  flat: parsePrometheusTextFormat(text.replace(/^# TYPE \S+ (histogram|summary)$/gm, ""))
})

export const family = (scrape: Scrape, name: string): Family | undefined => scrape.families.find((f) => f.name === name)

/** The samples named `name` (a counter, a gauge, or a histogram's `_bucket`/`_sum`/`_count`) with `labels` among theirs. */
export const samples = (scrape: Scrape, name: string, labels: Readonly<Record<string, string>> = {}): Array<Sample> =>
  // untyped, the samples of one histogram name come as one family per series (its lines alternate with _sum, _count)
  scrape.flat
    .filter((f) => f.name === name)
    .flatMap((f) => f.metrics)
    .filter((s) => Object.entries(labels).every(([key, value]) => s.labels?.[key] === value))

/** The sum of the values of the samples named `name` matching `labels`. */
export const sampleValue = (scrape: Scrape, name: string, labels: Readonly<Record<string, string>> = {}): number =>
  samples(scrape, name, labels).reduce((sum, s) => sum + Number(s.value ?? Number.NaN), 0)

export interface HistogramSeries {
  /** Cumulative count by upper bound (`le`, "+Inf" included), summed over the matching series. */
  readonly buckets: ReadonlyMap<string, number>
  readonly count: number
  readonly sum: number
}

/** The histogram `name` over the series matching `labels`. */
export const histogram = (
  scrape: Scrape,
  name: string,
  labels: Readonly<Record<string, string>> = {}
): HistogramSeries => {
  const buckets = new Map<string, number>()
  for (const s of samples(scrape, `${name}_bucket`, labels)) {
    const le = s.labels?.le ?? "?"
    buckets.set(le, (buckets.get(le) ?? 0) + Number(s.value))
  }
  return {
    buckets,
    count: sampleValue(scrape, `${name}_count`, labels),
    sum: sampleValue(scrape, `${name}_sum`, labels)
  }
}
