// An actor's admission: how many requests it holds (admitted, not yet answered), the limit, leaving its
// model's queue group when full and rejoining at the low-water mark, draining, and telling when it is idle.
//
// A request holds a place from `admit` until `release` after its reply is sent. `idle()` is true while
// it holds none (nothing queued, nothing running); `onIdle(listener)` calls the listener, synchronously
// inside the `release` that empties it, each time that happens (work that runs only while online
// requests leave the model free waits for it; a listener must not throw). Counters are cumulative.
// Plain code with no fiber or allocation per request: `admit` and `release` are the per-message path.

/** Membership of the model's queue group, as admission drives it. */
export interface QueueGroup {
  /** Subscribes in the queue group (again). */
  readonly join: () => void
  /** Leaves it; resolves once no more messages will be delivered (those already taken still are). */
  readonly leave: () => Promise<void>
}

/** What admission reports with each heartbeat. */
export interface AdmissionCounters {
  /** Requests admitted and not yet answered (queued and running). */
  readonly inflight: number
  /** Requests refused with Overloaded because every place was taken. */
  readonly overloaded: number
  /** Times the actor left its queue group because it was full. */
  readonly leftQueueGroup: number
}

export interface Admission {
  /** Places: requests held at most; one more is refused with Overloaded. */
  readonly limit: number
  /** Held requests at or below which a full actor joins its queue group again. */
  readonly rejoinAt: number
  readonly inflight: () => number
  /** Takes a place for a request, or returns false at the limit (counted as an Overloaded refusal). */
  readonly admit: () => boolean
  /** Gives back the places of `n` answered requests. */
  readonly release: (n: number) => void
  /** Holds no request. */
  readonly idle: () => boolean
  /** Calls `listener` each time the actor becomes idle; returns what stops that. */
  readonly onIdle: (listener: () => void) => () => void
  /** Is subscribed in the queue group now. */
  readonly joined: () => boolean
  /** Joins the queue group; from now on leaves it when full and rejoins it at `rejoinAt`. */
  readonly open: (group: QueueGroup) => void
  /** Leaves the queue group for good; resolves once every request taken meanwhile is answered. */
  readonly drain: () => Promise<void>
  readonly counters: () => AdmissionCounters
}

/** A full actor rejoins its queue group once it holds this share of its limit or less. */
export const REJOIN_SHARE = 0.75

export const makeAdmission = (limit: number): Admission => {
  const rejoinAt = Math.floor(limit * REJOIN_SHARE)
  let inflight = 0
  let overloaded = 0
  let leftQueueGroup = 0
  let group: QueueGroup | undefined
  let joined = false
  let closing = false
  /** The last leave still under way (its subscription may deliver messages until it resolves). */
  let leaving: Promise<void> = Promise.resolve()
  let drained: Promise<void> | undefined
  let listeners: Array<() => void> = []

  const join = (g: QueueGroup) => {
    g.join()
    joined = true
  }

  const leave = (g: QueueGroup) => {
    joined = false
    leaving = g.leave()
  }

  const admit = (): boolean => {
    if (inflight >= limit) {
      overloaded++
      return false
    }
    if (++inflight >= limit && joined) {
      leftQueueGroup++
      leave(group!)
    }
    return true
  }

  const release = (n: number): void => {
    inflight -= n
    if (inflight > rejoinAt) return
    if (!joined && !closing && group !== undefined) join(group)
    if (inflight === 0 && listeners.length > 0) for (const listener of listeners) listener()
  }

  const onIdle = (listener: () => void) => {
    listeners = [...listeners, listener]
    return () => {
      listeners = listeners.filter((l) => l !== listener)
    }
  }

  const whenIdle = () =>
    new Promise<void>((resolve) => {
      if (inflight === 0) return resolve()
      const stop = onIdle(() => {
        stop()
        resolve()
      })
    })

  return {
    limit,
    rejoinAt,
    inflight: () => inflight,
    admit,
    release,
    idle: () => inflight === 0,
    onIdle,
    joined: () => joined,
    open: (g) => {
      if (closing || group !== undefined) return
      group = g
      join(g)
    },
    drain: () => {
      if (drained === undefined) {
        closing = true
        if (joined) leave(group!)
        drained = leaving.then(whenIdle)
      }
      return drained
    },
    counters: () => ({ inflight, overloaded, leftQueueGroup })
  }
}
