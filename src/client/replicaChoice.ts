// Where an attempt of a call goes, as a pure decision: the model's queue group (NATS picks a replica),
// or the replica the client heard from last, on its own subject. A retry or a hedge sent to a replica
// that has just answered avoids one the bus still routes to but cannot reach (a host cut off).

/** The replica that answered last, and when (performance.now() ms). */
export interface Heard {
  readonly actor: string
  readonly at: number
}

/** A replica heard from longer ago than this (ms) is not chosen: the queue group is. */
export const RECENT_MS = 1_000

/** The replica heard from last, if that was at most `recentMs` before `now`. */
export const recentReplica = (
  heard: Heard | undefined,
  now: number,
  recentMs: number = RECENT_MS
): string | undefined => (heard !== undefined && now - heard.at <= recentMs ? heard.actor : undefined)

/**
 * The replica attempt `n` (1-based) goes to, or undefined for the queue group. The first attempt goes
 * to the group (the load stays spread); a retry goes to the replica heard from recently, unless the
 * attempt before it went to a replica (`previous`): that one failed, so the group is tried next.
 */
export const attemptReplica = (
  n: number,
  previous: string | undefined,
  heard: Heard | undefined,
  now: number,
  recentMs: number = RECENT_MS
): string | undefined => (n < 2 || previous !== undefined ? undefined : recentReplica(heard, now, recentMs))

/**
 * The replica a hedge of an attempt goes to, or undefined for the queue group: the one heard from
 * recently when the attempt went to the group; the group when the attempt went to a replica (its
 * second copy tries another).
 */
export const hedgeReplica = (
  attempt: string | undefined,
  heard: Heard | undefined,
  now: number,
  recentMs: number = RECENT_MS
): string | undefined => (attempt !== undefined ? undefined : recentReplica(heard, now, recentMs))

/** What a client remembers per model: who answered last; a replica that failed a directed attempt is forgotten. */
export interface HeardReplicas {
  readonly heard: (model: string, actor: string, now: number) => void
  readonly last: (model: string) => Heard | undefined
  /** Forgets `actor` if it is still the one remembered for `model`. */
  readonly failed: (model: string, actor: string) => void
  /**
   * Forgets every replica: they were heard through a connection that was lost (a server gone silent
   * may have been cut off with the replicas that answered through it).
   */
  readonly forgetAll: () => void
  /** How many times `forgetAll` was called: a new value means the connection changed. */
  readonly connection: () => number
}

export const heardReplicas = (): HeardReplicas => {
  const byModel = new Map<string, { actor: string; at: number }>()
  let connection = 0
  return {
    heard: (model, actor, now) => {
      const entry = byModel.get(model)
      if (entry === undefined) byModel.set(model, { actor, at: now })
      else {
        entry.actor = actor
        entry.at = now
      }
    },
    last: (model) => byModel.get(model),
    failed: (model, actor) => {
      if (byModel.get(model)?.actor === actor) byModel.delete(model)
    },
    forgetAll: () => {
      byModel.clear()
      connection++
    },
    connection: () => connection
  }
}
