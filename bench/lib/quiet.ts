// Waiting, bounded, for the machine to be quiet before a measurement window: other programs on
// a shared 2-core machine distort every figure, so each row starts when the rest of it is idle.
import { machineBusySeconds } from "./procStats.js"

export interface QuietPolicy {
  /** Busy cores (everything on the machine) tolerated before a window starts. */
  readonly thresholdCores: number
  /** Longest wait before one window. */
  readonly maxWaitMs: number
  /** Longest total wait over the whole run. */
  readonly budgetMs: number
}

/** Returns a function that waits until the machine's load is under the threshold, within the policy's bounds. */
export const quietGate = (policy: QuietPolicy, log: (line: string) => void) => {
  let spent = 0
  return async (): Promise<void> => {
    const started = performance.now()
    for (let slice = 0; slice < 1_000; slice++) {
      const before = machineBusySeconds()
      await new Promise((r) => setTimeout(r, 250))
      const load = (machineBusySeconds() - before) / 0.25
      const waited = performance.now() - started
      if (!(load > policy.thresholdCores)) break
      if (waited >= policy.maxWaitMs || spent + waited >= policy.budgetMs) {
        log(`  (machine still busy: ${load.toFixed(2)} cores in use by other programs; measuring anyway)`)
        break
      }
    }
    spent += performance.now() - started
  }
}
