// OTP restart intensity as a pure sliding window: restart timestamps within `period` are kept,
// and one restart more than `intensity` within the window means the supervisor gives up.
export interface IntensityPolicy {
  /** Restarts allowed within the period. */
  readonly intensity: number
  /** Length of the window, in milliseconds. */
  readonly periodMs: number
}

export interface IntensityDecision {
  /** The restart timestamps still inside the window, including this one. */
  readonly window: ReadonlyArray<number>
  /** True when this restart exceeds the intensity: terminate the children and fail. */
  readonly exceeded: boolean
}

/** Records a restart at `now` against the window of earlier restarts (like supervisor:add_restart). */
export const recordRestart = (
  window: ReadonlyArray<number>,
  now: number,
  policy: IntensityPolicy
): IntensityDecision => {
  const kept = [...window.filter((t) => now - t < policy.periodMs), now]
  return { window: kept, exceeded: kept.length > policy.intensity }
}
