// What a replica does with a canary entry it was sent or read, decided on the canary's id and phase
// alone. Not on the entry's KV revision: after a JetStream 2.9 stream leader is killed, the stream has
// been seen to come back without the old leader's last write and to number the next write (the canary's
// end) with a revision the replica had already applied. A canary id runs once and ends once: its
// lifecycle orders the entries of one canary, and an id seen ended is never taken up again.

/** At most this many ended canary ids are remembered per replica (canaries are rare). */
export const REMEMBERED_ENDED = 64

/** What a replica has seen of canaries so far. */
export interface CanaryHistory {
  /** The last running canary taken up here or tried: a candidate that failed to load is not tried again. */
  readonly tried: string | undefined
  /** Canaries known to have ended, most recent last. */
  readonly ended: ReadonlyArray<string>
}

export const noCanaryHistory: CanaryHistory = { tried: undefined, ended: [] }

/**
 * `takeUp`: load the entry's candidate and run it; `replace`: end the canary running here (as aborted),
 * then take the entry's up; `end`: end the canary running here with the entry's phase; `ignore`: nothing.
 */
export type CanaryStep = "takeUp" | "replace" | "end" | "ignore"

const remember = (ended: ReadonlyArray<string>, id: string) =>
  ended.includes(id) ? ended : [...ended, id].slice(-REMEMBERED_ENDED)

/**
 * The step for an entry of canary `id`, `running` or ended, on a replica running canary `runningHere`
 * (or none), and the history after it. A canary replaced by another counts as ended.
 */
export const canaryStep = (
  history: CanaryHistory,
  runningHere: string | undefined,
  id: string,
  running: boolean
): { readonly step: CanaryStep; readonly history: CanaryHistory } => {
  if (!running) {
    return { step: runningHere === id ? "end" : "ignore", history: { ...history, ended: remember(history.ended, id) } }
  }
  if (history.tried === id || history.ended.includes(id)) return { step: "ignore", history }
  if (runningHere === undefined) return { step: "takeUp", history: { ...history, tried: id } }
  return { step: "replace", history: { tried: id, ended: remember(history.ended, runningHere) } }
}
