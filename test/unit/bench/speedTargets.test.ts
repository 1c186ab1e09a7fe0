// The speed targets judged on interleaved rounds: each figure computed within its round, the median
// of the rounds decides, and the spread is shown beside it.
import { describe, expect, it } from "vitest"
import type { RoundFigures } from "../../../bench/lib/interleavedTargets.js"
import { speedTargets } from "../../../bench/lib/speedTargets.js"

const round = (over: Partial<RoundFigures>): RoundFigures => ({
  ceilingPerSecond: 30_000,
  ceilingBatch: 8,
  modelCpuUsPerSample: 5,
  modelTimeP50Ms: 0.04,
  echoPerSecond: 90_000,
  echoP50Ms: 0.2,
  echoClientCpuUs: 7,
  clientAlonePerSecond: 60_000,
  clientCpuUs: 9,
  modelbusPerSecond: 60_000,
  modelbusP50Ms: 0.35,
  actorCpuUs: 14,
  peerPerSecond: 20_000,
  peerP99Ms: 9,
  modelbusP99Ms: 5,
  ...over
})

const find = (targets: ReturnType<typeof speedTargets>, part: string) => targets.find((t) => t.target.includes(part))!

describe("speed targets on interleaved rounds", () => {
  it("divides within each round, so a slow round of both sides does not move the ratio", () => {
    // the machine slowed to half in round 2: both the echo and modelbus halved
    const targets = speedTargets([
      {
        model: "iris",
        rounds: 3,
        windowMs: 1_000,
        figures: [
          round({ echoPerSecond: 100_000, modelbusPerSecond: 62_000 }),
          round({ echoPerSecond: 50_000, modelbusPerSecond: 31_000 }),
          round({ echoPerSecond: 100_000, modelbusPerSecond: 58_000 })
        ]
      }
    ])
    const echo = find(targets, "muxed NATS echo")
    expect(echo.pass).toBe(true)
    expect(echo.measured).toMatch(/^0\.620× \(0\.580–0\.620\) over 3 rounds/)
  })

  it("judges c=1 latency, CPU outside the model, the client and the peer; misses are misses", () => {
    const targets = speedTargets([
      { model: "iris", rounds: 1, windowMs: 1_000, figures: [round({ actorCpuUs: 16, peerP99Ms: 4 })] }
    ])
    expect(find(targets, "c=1").pass).toBe(true) // 0.35 − 0.2 − 0.04 = 0.11 ms
    expect(find(targets, "outside the model").pass).toBe(false) // 16 − 5 = 11 µs
    expect(find(targets, "client CPU").pass).toBe(true)
    expect(find(targets, "Moleculer").pass).toBe(false) // its p99 is lower
    expect(targets.some((t) => t.target.startsWith("cnn"))).toBe(false)
  })

  it("compares the conv model with its best in-process batch size", () => {
    const [cnn] = speedTargets([
      { model: "cnn", rounds: 1, windowMs: 1_000, figures: [round({ modelbusPerSecond: 26_000 })] }
    ]).filter((t) => t.target.includes("in-process"))
    expect(cnn!.pass).toBe(false) // 26,000 / 30,000 = 0.867
    expect(cnn!.measured).toContain("batch 8")
  })
})
