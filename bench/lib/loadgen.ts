// Closed-loop load generation: `concurrency` callers each with one request in flight, a warm-up
// that is not recorded, then a measurement window bounded in time and in request count.
import { LatencyRecorder, type LatencySummary } from "./stats.js"

export interface LoadPlan {
  readonly concurrency: number
  /** Unrecorded warm-up before the window (ms). */
  readonly warmupMs: number
  /** Length of the measurement window (ms); the window also ends after `maxRequests`. */
  readonly durationMs: number
  readonly maxRequests: number
}

export interface LoadHooks {
  /** Called when the measurement window opens and when it closes (process metrics are read then). */
  readonly onWindow?: (edge: "start" | "end") => void | Promise<void>
}

/** Runs `call` under the plan; `call(i)` is the i-th request of its caller. Never rejects on a failed call. */
export const closedLoop = async (
  call: (i: number) => Promise<unknown>,
  plan: LoadPlan,
  hooks: LoadHooks = {}
): Promise<LatencySummary> => {
  const recorder = new LatencyRecorder(Math.min(plan.maxRequests, 3_000_000))
  const hardStop = performance.now() + plan.warmupMs + plan.durationMs + 60_000
  let phase: "warmup" | "measure" | "done" = plan.warmupMs > 0 ? "warmup" : "measure"
  let windowStart = 0
  let windowEnd = 0
  let started = 0
  const openWindow = async () => {
    await hooks.onWindow?.("start")
    windowStart = performance.now()
    phase = "measure"
  }
  const closeWindow = () => {
    if (phase !== "measure") return
    phase = "done"
    windowEnd = performance.now()
    void hooks.onWindow?.("end")
  }
  if (phase === "measure") await openWindow()
  const warmupEnd = performance.now() + plan.warmupMs
  let opening: Promise<void> | undefined
  const caller = async (): Promise<void> => {
    for (let i = 0; ; i++) {
      const now = performance.now()
      if (phase === "warmup" && now >= warmupEnd) {
        // Every caller waits for the same window opening (metrics are read before it starts).
        opening ??= openWindow()
        await opening
      }
      if (phase === "measure" && (performance.now() - windowStart >= plan.durationMs || started >= plan.maxRequests))
        closeWindow()
      if (phase === "done" || now > hardStop) return
      const recorded = phase === "measure"
      if (recorded) started++
      const t0 = performance.now()
      try {
        await call(i)
        if (recorded && phase === "measure") recorder.record(performance.now() - t0)
      } catch (error) {
        if (recorded && phase === "measure") recorder.error(error)
      }
    }
  }
  await Promise.all(Array.from({ length: plan.concurrency }, () => caller()))
  closeWindow()
  return recorder.summary((windowEnd - windowStart) / 1000)
}
