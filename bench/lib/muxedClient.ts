// A muxed-inbox request client: one wildcard inbox subscription, replies matched to callers by
// the last subject token in a Map, one periodic sweep for every deadline (no timer per request).
import { createInbox, type Msg, type NatsConnection, type Subscription } from "@nats-io/transport-node"

interface Pending {
  readonly resolve: (msg: Msg) => void
  readonly reject: (error: Error) => void
  readonly deadline: number
  readonly subject: string
}

export class MuxedTimeout extends Error {
  override readonly name = "MuxedTimeout"
}
export class MuxedNoResponders extends Error {
  override readonly name = "MuxedNoResponders"
}

export class MuxedClient {
  private readonly prefix: string
  private readonly pending = new Map<number, Pending>()
  private readonly sub: Subscription
  private readonly sweeper: NodeJS.Timeout
  private next = 0

  constructor(
    private readonly nc: NatsConnection,
    private readonly timeoutMs = 5_000,
    sweepMs = 50
  ) {
    this.prefix = `${createInbox()}.`
    this.sub = nc.subscribe(`${this.prefix}*`, {
      callback: (error, msg) => (error === null ? this.onReply(msg) : undefined)
    })
    this.sweeper = setInterval(() => this.sweep(), sweepMs)
    this.sweeper.unref()
  }

  /** Publishes `data` to `subject` with a reply subject under this client's inbox; resolves with the reply. */
  request(subject: string, data: Uint8Array): Promise<Msg> {
    const id = ++this.next
    return new Promise<Msg>((resolve, reject) => {
      this.pending.set(id, { resolve, reject, deadline: performance.now() + this.timeoutMs, subject })
      this.nc.publish(subject, data, { reply: this.prefix + id })
    })
  }

  get inflight(): number {
    return this.pending.size
  }

  private onReply(msg: Msg): void {
    const id = Number(msg.subject.slice(this.prefix.length))
    const entry = this.pending.get(id)
    if (entry === undefined) return // late reply after its deadline
    this.pending.delete(id)
    if (msg.data.length === 0 && msg.headers?.code === 503)
      entry.reject(new MuxedNoResponders(`no responders on ${entry.subject}`))
    else entry.resolve(msg)
  }

  /** Rejects every request past its deadline. Insertion order = deadline order (one timeout), so it stops at the first live one. */
  private sweep(): void {
    const now = performance.now()
    for (const [id, entry] of this.pending) {
      if (entry.deadline > now) break
      this.pending.delete(id)
      entry.reject(new MuxedTimeout(`no reply on ${entry.subject} within ${this.timeoutMs} ms`))
    }
  }

  close(): void {
    clearInterval(this.sweeper)
    this.sub.unsubscribe()
    for (const entry of this.pending.values()) entry.reject(new Error("client closed"))
    this.pending.clear()
  }
}
