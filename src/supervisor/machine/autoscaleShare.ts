// Autoscaling across supervisors without a leader, as pure functions: the cluster's load is the
// sum of what every live supervisor reports, every one decides the same total from it, and each
// takes a deterministic share by the rank of its id; a supervisor that stops reporting drops out.
import type { AutoscaleReport } from "../../protocol/messages.js"
import type { LoadSample } from "./autoscale.js"

/** A peer's latest report and when it arrived (monotonic ms of the receiver). */
export interface PeerReport extends AutoscaleReport {
  readonly receivedAt: number
}

/** The peers heard from within `expiryMs` before `now`. */
export const livePeers = (reports: Iterable<PeerReport>, now: number, expiryMs: number): ReadonlyArray<PeerReport> =>
  [...reports].filter((r) => now - r.receivedAt <= expiryMs)

/** This supervisor's sample plus its live peers' reports: the cluster's load and actors. */
export const clusterSample = (
  own: LoadSample,
  ownActors: number,
  peers: ReadonlyArray<AutoscaleReport>
): { readonly sample: LoadSample; readonly actors: number } => {
  const sum = (pick: (r: AutoscaleReport) => number) => peers.reduce((n, p) => n + pick(p), 0)
  return {
    sample: {
      at: own.at,
      replicas: own.replicas + sum((p) => p.replicas),
      inflight: own.inflight + sum((p) => p.inflight),
      refused: own.refused + sum((p) => p.refused),
      leftQueueGroup: own.leftQueueGroup + sum((p) => p.leftQueueGroup),
      held: own.held + sum((p) => p.held),
      // one work consumer per model, read by every supervisor: the same backlog, not a sum
      queued: Math.max(own.queued, ...peers.map((p) => p.queued ?? 0))
    },
    actors: ownActors + sum((p) => p.actors)
  }
}

/**
 * Where a supervisor's first decision starts: the total its peers already decided (the highest,
 * should they differ), so one that joins takes up the cluster's target instead of recounting it;
 * with no decided peer, the actors the cluster runs.
 */
export const startingTarget = (peers: ReadonlyArray<AutoscaleReport>, clusterActors: number): number => {
  const decided = peers.flatMap((p) => (p.target === undefined ? [] : [p.target]))
  return decided.length === 0 ? clusterActors : Math.max(...decided)
}

/**
 * The replicas of `total` that supervisor `self` runs: an even split, the remainder going one each
 * to the lowest ids; every supervisor computes the same split from the same ids.
 */
export const shareOf = (
  total: number,
  ids: ReadonlyArray<string>,
  self: string
): { readonly share: number; readonly rank: number; readonly of: number } => {
  const ranked = [...new Set([...ids, self])].sort()
  const rank = ranked.indexOf(self)
  const of = ranked.length
  return { share: Math.floor(total / of) + (rank < total % of ? 1 : 0), rank, of }
}
