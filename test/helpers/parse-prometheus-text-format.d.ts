// Types of the Prometheus text parser the metrics tests read /metrics with (the package ships none):
// one family per metric name, its samples as strings, as prom2json gives them.
declare module "parse-prometheus-text-format" {
  export interface Sample {
    readonly value?: string
    readonly labels?: Readonly<Record<string, string>>
    /** Histograms: cumulative count by upper bound (`le`), "+Inf" included. */
    readonly buckets?: Readonly<Record<string, string>>
    readonly count?: string
    readonly sum?: string
  }
  export interface Family {
    readonly name: string
    readonly help: string
    readonly type: "COUNTER" | "GAUGE" | "HISTOGRAM" | "SUMMARY" | "UNTYPED"
    readonly metrics: ReadonlyArray<Sample>
  }
  const parsePrometheusTextFormat: (text: string) => ReadonlyArray<Family>
  export default parsePrometheusTextFormat
}
