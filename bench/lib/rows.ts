// The shape of the bench's results: one row per measured configuration (model, scenario,
// concurrency or batch), with its latency summary and per-process CPU and peak memory.
import type { ProcDelta } from "./procStats.js"
import type { LatencySummary } from "./stats.js"

export const Section = {
  ceiling: "in-process ceiling",
  messaging: "messaging ceiling",
  modelbus: "modelbus",
  /** Halves of modelbus measured apart: its actors under a raw muxed client, its client against a canned reply. */
  diagnostic: "diagnostic",
  antiPattern: "anti-pattern",
  peer: "peer"
} as const
export type Section = (typeof Section)[keyof typeof Section]

export interface Row {
  readonly section: Section
  readonly scenario: string
  readonly model: string
  /** Requests in flight (closed loop); for the in-process ceiling, the number of processes. */
  readonly concurrency: number
  /** Samples per call (the in-process ceiling's batch size); 1 for request rows. */
  readonly batch: number
  readonly unit: "req/s" | "samples/s"
  readonly summary: LatencySummary
  readonly processes: ReadonlyArray<ProcDelta>
  /** CPU seconds used in the window by everything else on the machine (other programs): noise when high. */
  readonly backgroundCpuSeconds: number
  readonly note?: string
}

export interface Soak {
  readonly model: string
  readonly scenario: string
  readonly warmupRequests: number
  readonly requests: number
  readonly errors: number
  readonly seconds: number
  readonly actors: ReadonlyArray<{
    readonly id: string
    readonly pid: number
    readonly tensorsBefore: number
    readonly tensorsAfter: number
    readonly rssMbBefore: number
    readonly rssMbAfter: number
    /** Peak RSS during the warm-up (the baseline of the growth) and during the soak. */
    readonly peakRssMbWarmup: number
    readonly peakRssMbDuring: number
    /** The same from the actor's own status report (rssBytes). */
    readonly statusRssMbBefore: number
    readonly statusRssMbAfter: number
  }>
}

export interface Timing {
  readonly warmupMs: number
  readonly ceilingMs: number
  readonly echoMs: number
  readonly modelbusMs: number
  readonly antiMs: number
  readonly peerMs: number
  readonly soakRequests: number
  readonly echoConcurrency: ReadonlyArray<number>
  readonly modelbusConcurrency: ReadonlyArray<number>
  readonly antiConcurrency: ReadonlyArray<number>
  readonly peerConcurrency: ReadonlyArray<number>
  readonly diagnosticConcurrency: ReadonlyArray<number>
  readonly batches: ReadonlyArray<number>
}

export const FULL: Timing = {
  warmupMs: 700,
  ceilingMs: 2_000,
  echoMs: 3_000,
  modelbusMs: 4_000,
  antiMs: 3_000,
  peerMs: 4_000,
  soakRequests: 100_000,
  echoConcurrency: [1, 16, 64, 256],
  modelbusConcurrency: [1, 16, 64, 256],
  antiConcurrency: [1, 16],
  peerConcurrency: [1, 64],
  diagnosticConcurrency: [1, 64],
  batches: [1, 8, 32, 64]
}

export const QUICK: Timing = {
  warmupMs: 200,
  ceilingMs: 400,
  echoMs: 500,
  modelbusMs: 600,
  antiMs: 500,
  peerMs: 600,
  soakRequests: 5_000,
  echoConcurrency: [1, 64],
  modelbusConcurrency: [1, 16, 64, 256],
  antiConcurrency: [1, 16],
  peerConcurrency: [64],
  diagnosticConcurrency: [64],
  batches: [1, 8, 32, 64]
}
