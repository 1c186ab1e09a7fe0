// Latency statistics of one measured run: a bounded recorder of per-request latencies and the
// summary (count, rate, p50/p90/p99/max) computed from it by sorting once.
export interface LatencySummary {
  /** Requests (or predict calls) completed inside the measurement window. */
  readonly count: number
  readonly errors: number
  readonly seconds: number
  /** count / seconds. */
  readonly perSecond: number
  readonly meanMs: number
  readonly p50Ms: number
  readonly p90Ms: number
  readonly p99Ms: number
  readonly maxMs: number
  /** The first few error messages, when there were errors. */
  readonly firstErrors?: ReadonlyArray<string>
}

/** Holds at most `capacity` latencies (ms); past that it keeps counting but stops storing. */
export class LatencyRecorder {
  private readonly values: Float64Array
  private stored = 0
  count = 0
  errors = 0
  readonly firstErrors: Array<string> = []

  constructor(capacity: number) {
    this.values = new Float64Array(Math.max(1, capacity))
  }

  record(ms: number): void {
    this.count++
    if (this.stored < this.values.length) this.values[this.stored++] = ms
  }

  error(cause: unknown): void {
    this.errors++
    if (this.firstErrors.length < 3)
      this.firstErrors.push(cause instanceof Error ? `${cause.name}: ${cause.message}` : String(cause))
  }

  summary(seconds: number, itemsPerCall = 1): LatencySummary {
    const sorted = this.values.slice(0, this.stored).sort()
    let sum = 0
    for (const v of sorted) sum += v
    return {
      count: this.count * itemsPerCall,
      errors: this.errors,
      seconds,
      perSecond: seconds > 0 ? (this.count * itemsPerCall) / seconds : 0,
      meanMs: sorted.length > 0 ? sum / sorted.length : Number.NaN,
      p50Ms: percentile(sorted, 0.5),
      p90Ms: percentile(sorted, 0.9),
      p99Ms: percentile(sorted, 0.99),
      maxMs: sorted.length > 0 ? sorted[sorted.length - 1]! : Number.NaN,
      ...(this.firstErrors.length > 0 ? { firstErrors: [...this.firstErrors] } : {})
    }
  }
}

/** The nearest-rank percentile of an ascending array (NaN when empty). */
export const percentile = (sorted: ArrayLike<number>, q: number): number => {
  if (sorted.length === 0) return Number.NaN
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))
  return sorted[rank]!
}

/** The value at quantile `q` (0..1) of an ascending array, interpolated between neighbours (NaN when empty). */
export const quantile = (sorted: ReadonlyArray<number>, q: number): number => {
  if (sorted.length === 0) return Number.NaN
  const at = (sorted.length - 1) * q
  const low = Math.floor(at)
  const high = Math.ceil(at)
  return sorted[low]! + (sorted[high]! - sorted[low]!) * (at - low)
}
