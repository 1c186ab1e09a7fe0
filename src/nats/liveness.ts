// Dead connections found in time: a round trip to the server (a flush: PING, then its PONG) with a
// short timeout, asked on demand (a request went unanswered) and on a steady beat; no answer forces a reconnect.
import type { NatsConnection } from "@nats-io/transport-node"

/** How often an idle connection is checked, and how long its server has to answer (ms). */
export const LIVENESS = { everyMs: 1_000, timeoutMs: 750 } as const

export interface LivenessOptions {
  /** Between steady checks; 0 for checks on demand only. */
  readonly everyMs?: number
  readonly timeoutMs?: number
  /** Told when a check found `server` (host:port) silent and a reconnect was forced. */
  readonly onDead?: (silentMs: number, server: string) => void
}

export interface Liveness {
  /**
   * Checks the connection now (a check already under way is shared): resolves true when the server
   * answered in time, false when it did not (a reconnect to another server was then forced).
   */
  readonly probe: () => Promise<boolean>
  /** Stops the steady checks (a probe under way still finishes). */
  readonly stop: () => void
  /** Reconnects forced so far. */
  readonly reconnects: () => number
}

/**
 * Watches `nc`: a probe every `everyMs`, and one on demand. A probe whose timer fires while the event
 * loop was busy (a long synchronous step) gives the PONG that may have arrived meanwhile the chance
 * to be read first: the verdict waits for the next check phase, after pending I/O.
 */
export const watchLiveness = (nc: NatsConnection, options: LivenessOptions = {}): Liveness => {
  const everyMs = options.everyMs ?? LIVENESS.everyMs
  const timeoutMs = options.timeoutMs ?? LIVENESS.timeoutMs
  let running: Promise<boolean> | undefined
  let forced = 0

  const check = (): Promise<boolean> =>
    new Promise<boolean>((resolve) => {
      if (nc.isClosed()) return resolve(true)
      let answered = false
      const started = performance.now()
      const server = nc.getServer()
      nc.flush().then(
        () => {
          answered = true
          resolve(true)
        },
        // closed or draining: nothing to reconnect
        () => {
          answered = true
          resolve(true)
        }
      )
      const timer = setTimeout(() => {
        setImmediate(() => {
          if (answered) return
          forced++
          options.onDead?.(Math.round(performance.now() - started), server)
          // no effect while the client is already reconnecting; rejects only when closed or draining
          nc.reconnect().catch(() => undefined)
          resolve(false)
        })
      }, timeoutMs)
      timer.unref()
    })

  const probe = () => {
    if (running === undefined) running = check().finally(() => (running = undefined))
    return running
  }

  const beat = everyMs > 0 ? setInterval(() => void probe(), everyMs) : undefined
  beat?.unref()
  const stop = () => clearInterval(beat)
  void nc.closed().then(stop)

  return { probe, stop, reconnects: () => forced }
}

const watched = new WeakMap<NatsConnection, Liveness>()

/**
 * The one watcher of `nc`, shared by whoever asks; started on first use, with the default beat, or
 * on demand only (`beat: false`: a connection someone else owns is probed only when a request of ours went unanswered).
 */
export const livenessOf = (nc: NatsConnection, beat = true, onDead?: LivenessOptions["onDead"]): Liveness => {
  let liveness = watched.get(nc)
  if (liveness === undefined) {
    liveness = watchLiveness(nc, { ...(beat ? {} : { everyMs: 0 }), ...(onDead === undefined ? {} : { onDead }) })
    watched.set(nc, liveness)
  }
  return liveness
}

/** How long a server found silent is passed over when the client picks where to reconnect. */
export const AVOID_SILENT_MS = 30_000

/**
 * The servers lately found silent, and the choice of where to reconnect that passes them over (the
 * default would dial the pool's first server, the dead one again, and wait out its connect timeout).
 */
export const silentServers = (now: () => number = Date.now) => {
  const silentUntil = new Map<string, number>()
  return {
    mark: (server: string) => void silentUntil.set(server, now() + AVOID_SILENT_MS),
    /** For nats.js `reconnectToServer`: the first server of the pool not lately silent, else the default. */
    pick: <S extends { readonly listen: string }>(pool: ReadonlyArray<S>): S | null => {
      const t = now()
      const alive = pool.find((s) => (silentUntil.get(s.listen) ?? 0) <= t)
      return alive === undefined || alive === pool[0] ? null : alive
    }
  }
}
