// OTP restart intensity as a pure sliding window over monotonic time: restarts at most `period`
// old are kept (one exactly `period` old included), and more than `intensity` of them means give up.
export interface IntensityPolicy {
  /** Restarts allowed within the period. */
  readonly intensity: number
  /** Length of the window, in milliseconds of monotonic time. */
  readonly periodMs: number
}

export interface IntensityDecision {
  /** The restart timestamps still inside the window, including this one. */
  readonly window: ReadonlyArray<number>
  /** True when this restart exceeds the intensity: terminate the children and fail. */
  readonly exceeded: boolean
}

/** True while a restart at `then` still counts at `now` (OTP's inPeriod: `Now =< Then + Period`). */
export const inPeriod = (then: number, now: number, periodMs: number): boolean => now <= then + periodMs

/** Records a restart at `now` against the window of earlier restarts (like supervisor:add_restart). */
export const recordRestart = (
  window: ReadonlyArray<number>,
  now: number,
  policy: IntensityPolicy
): IntensityDecision => {
  const kept = [...window.filter((t) => inPeriod(t, now, policy.periodMs)), now]
  return { window: kept, exceeded: kept.length > policy.intensity }
}
