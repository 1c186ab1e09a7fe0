// Sharing a cluster's target without a leader, as pure functions: live peers by report age, the
// cluster's load as the sum of every report, and a split by rank of supervisor id that every
// supervisor computes alike and that always adds up to the total.
import fc from "fast-check"
import { describe, expect, it } from "vitest"
import {
  clusterSample,
  livePeers,
  type PeerReport,
  shareOf,
  startingTarget
} from "../../../../src/supervisor/machine/autoscaleShare.js"

const report = (supervisor: string, receivedAt: number, extra: Partial<PeerReport> = {}): PeerReport => ({
  supervisor,
  actors: 1,
  replicas: 1,
  inflight: 2,
  refused: 0,
  leftQueueGroup: 0,
  held: 0,
  receivedAt,
  ...extra
})

describe("shareOf", () => {
  it.each([
    ["alone: all of it", 5, [], "b", 5, 0, 1],
    ["3 over two: the lower id takes the remainder", 3, ["b"], "a", 2, 0, 2],
    ["3 over two: the higher id takes the rest", 3, ["a"], "b", 1, 1, 2],
    ["1 over three: only the lowest id runs one", 1, ["a", "c"], "b", 0, 1, 3],
    ["0 over two: none", 0, ["z"], "a", 0, 0, 2],
    ["its own id among the peers counts once", 4, ["a", "b"], "a", 2, 0, 2]
  ] as const)("%s", (_, total, peers, self, share, rank, of) => {
    expect(shareOf(total, peers, self)).toEqual({ share, rank, of })
  })

  it("every supervisor's share adds up to the total, whatever the ids (property)", () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.string({ minLength: 1, maxLength: 6 }), { minLength: 1, maxLength: 8 }),
        fc.integer({ min: 0, max: 50 }),
        (ids, total) => {
          const shares = ids.map((id) => shareOf(total, ids, id).share)
          expect(shares.reduce((a, b) => a + b, 0)).toBe(total)
          expect(Math.max(...shares) - Math.min(...shares)).toBeLessThanOrEqual(1)
        }
      )
    )
  })
})

describe("livePeers and clusterSample", () => {
  it("drops a peer not heard from within the expiry, and sums the rest with this supervisor's sample", () => {
    const peers = livePeers([report("a", 1_000), report("b", 7_500, { inflight: 5, held: 2, actors: 3 })], 8_000, 6_000)
    expect(peers.map((p) => p.supervisor)).toEqual(["b"])
    const own = { at: 8_000, replicas: 2, inflight: 1, refused: 1, leftQueueGroup: 0, held: 0, queued: 0 }
    expect(clusterSample(own, 2, peers)).toEqual({
      sample: { at: 8_000, replicas: 3, inflight: 6, refused: 1, leftQueueGroup: 0, held: 2, queued: 0 },
      actors: 5
    })
  })

  it("takes the batch backlog every supervisor reads from the one work consumer once, not summed", () => {
    const own = { at: 8_000, replicas: 0, inflight: 0, refused: 0, leftQueueGroup: 0, held: 0, queued: 4 }
    const peers = [report("a", 7_900, { queued: 4 }), report("b", 7_900, { queued: 6 }), report("c", 7_900)]
    expect(clusterSample(own, 0, peers).sample.queued).toBe(6)
  })
})

describe("startingTarget", () => {
  it("takes up the total decided peers agreed on, else counts the cluster's actors", () => {
    expect(startingTarget([], 2)).toBe(2)
    expect(startingTarget([report("a", 0)], 4)).toBe(4)
    expect(startingTarget([report("a", 0, { target: 3 }), report("b", 0)], 4)).toBe(3)
    expect(startingTarget([report("a", 0, { target: 3 }), report("b", 0, { target: 5 })], 9)).toBe(5)
  })
})
