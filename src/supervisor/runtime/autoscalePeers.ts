// The other supervisors running an autoscaled model, as heard on the bus: each publishes its load
// on `<prefix>.autoscale.<model>` every time it samples; what arrives is decoded with a Schema and
// kept per supervisor with its arrival time, and a report that does not decode is dropped.
import type { NatsConnection } from "@nats-io/transport-node"
import { Clock, Effect, Schema, type Scope } from "effect"
import { AutoscaleReport } from "../../protocol/messages.js"
import type { Subjects } from "../../protocol/subjects.js"
import type { PeerReport } from "../machine/autoscaleShare.js"

export interface AutoscalePeers {
  /** Publishes this supervisor's report. */
  readonly publish: (report: AutoscaleReport) => void
  /** The latest report of every other supervisor heard from. */
  readonly reports: () => Iterable<PeerReport>
}

const decodeReport = Schema.decodeUnknownOption(Schema.fromJsonString(AutoscaleReport))
const textDecoder = new TextDecoder()

export const makeAutoscalePeers = Effect.fnUntraced(function* (options: {
  readonly nc: NatsConnection
  readonly subject: Subjects
  readonly model: string
  readonly self: string
}): Effect.fn.Return<AutoscalePeers, never, Scope.Scope> {
  const { nc, subject, model, self } = options
  const clock = yield* Clock.Clock
  const peers = new Map<string, PeerReport>()
  yield* Effect.acquireRelease(
    Effect.sync(() =>
      nc.subscribe(subject.autoscale(model), {
        callback: (error, msg) => {
          if (error !== null) return
          const report = decodeReport(textDecoder.decode(msg.data))
          if (report._tag === "None" || report.value.supervisor === self) return
          const receivedAt = Number(clock.monotonicTimeNanosUnsafe()) / 1e6
          peers.set(report.value.supervisor, { ...report.value, receivedAt })
        }
      })
    ),
    (subscription) => Effect.sync(() => subscription.unsubscribe())
  )
  return {
    publish: (report) => {
      if (!nc.isClosed()) nc.publish(subject.autoscale(model), JSON.stringify(report))
    },
    reports: () => peers.values()
  }
})
