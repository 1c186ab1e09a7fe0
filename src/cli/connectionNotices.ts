// What a long-running CLI command (`batch submit` following, `batch wait`) says when its NATS connection
// drops and comes back: without it the command waits in silence while the client reconnects for ever. The
// job itself lives in JetStream and goes on; the command picks up where it was once it is reconnected.
import type { NatsConnection, Status } from "@nats-io/transport-node"

/** The line for a connection event, or undefined for the events a user need not see (pure). */
export const connectionNotice = (status: Status, what: string): string | undefined => {
  switch (status.type) {
    case "disconnect":
      return `lost the connection to NATS (${status.server}): reconnecting; ${what} goes on in JetStream meanwhile (Ctrl-C leaves it running)`
    case "reconnect":
      return `reconnected to NATS (${status.server}): following ${what} again`
    default:
      return undefined
  }
}

/** Writes a line for each disconnect and reconnect of `nc` until the returned function is called. */
export const watchConnection = (nc: NatsConnection, what: string, write: (line: string) => void): (() => void) => {
  const statuses = nc.status()[Symbol.asyncIterator]()
  let watching = true
  void (async () => {
    for (let next = await statuses.next(); !next.done && watching; next = await statuses.next()) {
      const line = connectionNotice(next.value, what)
      if (line !== undefined) write(line)
    }
  })().catch(() => undefined)
  return () => {
    watching = false
    void statuses.return?.()
  }
}
