// How much of a replica's time batch work takes while online requests come. After a chunk whose model calls
// overlapped online traffic, the replica rests before it pulls again, so that batch work keeps to
// BATCH_SHARE_UNDER_LOAD of its time (`restAfterChunk`, pure); with no online request seen it goes on at
// once, and a job alone runs at full speed. The quiet gate (batchWork.ts) decides when a call may start, and
// tells when the actor last became idle; this decides how often: each chunk also costs the bus (its
// delivery, its result stored), which online requests share on the same cores.

/** The share of a replica's time its batch chunks' model calls may take while online requests come. */
export const BATCH_SHARE_UNDER_LOAD = 0.25
/** The longest rest after one chunk: a chunk of long calls still leaves its job moving. */
export const BATCH_REST_MAX_MS = 1_000

/** How long to rest after a chunk whose model calls took `busyMs` (pure); 0 when no online request came. */
export const restAfterChunk = (busyMs: number, onlineSeen: boolean, share = BATCH_SHARE_UNDER_LOAD): number =>
  onlineSeen && busyMs > 0 ? Math.min(BATCH_REST_MAX_MS, busyMs * (1 / share - 1)) : 0

/** What the share reads of the actor's online traffic. */
export interface OnlineTraffic {
  /** True while the actor holds no online request. */
  readonly idle: () => boolean
  /** When the actor last became idle (an online request ended), on `now`'s clock. */
  readonly lastIdleAt: () => number
}

export interface BatchShare {
  /** A chunk begins: its calls' time and the online requests seen are counted from now. */
  readonly chunkStarted: () => void
  /** One of the chunk's model calls took `ms`. */
  readonly timed: (ms: number) => void
  /** Resolves once the rest the chunk asks for is over (at once when none), or when `stop` is called. */
  readonly rest: () => Promise<void>
  readonly stop: () => void
}

export const batchShare = (online: OnlineTraffic, now: () => number = () => performance.now()): BatchShare => {
  let busyMs = 0
  let startedAt = 0
  let wake: (() => void) | undefined
  return {
    chunkStarted: () => {
      busyMs = 0
      startedAt = now()
    },
    timed: (ms) => {
      busyMs += ms
    },
    rest: () => {
      // a request that ended during the chunk, or one still held at its end
      const ms = restAfterChunk(busyMs, online.lastIdleAt() >= startedAt || !online.idle())
      if (ms === 0) return Promise.resolve()
      return new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          wake = undefined
          resolve()
        }, ms)
        wake = () => {
          clearTimeout(timer)
          wake = undefined
          resolve()
        }
      })
    },
    stop: () => wake?.()
  }
}
