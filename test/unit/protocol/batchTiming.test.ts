// The batch consumer's timing decisions: the ack wait measured from model calls, the backoff grown from it,
// what a submitter and a replica write, and the config fields nats-server 2.9 takes.
import { describe, expect, it } from "vitest"
import {
  type AckWaitChoice,
  backoffMs,
  choiceOfConfig,
  measuredAckWait,
  measuredAckWaitMs,
  modeOfDescription,
  submittedAckWait,
  timingConfig,
  timingDescription
} from "../../../src/protocol/batchTiming.js"

describe("the measured ack wait", () => {
  it.each([
    [0, 1_000],
    [0.3, 1_000],
    [250, 1_000],
    [251, 2_000],
    [900, 4_000],
    [2_400, 10_000],
    [60_000, 240_000]
  ])("covers calls of %d ms with %d ms: max(1 s, 4 × the call), whole seconds", (longestCallMs, ackWaitMs) => {
    expect(measuredAckWaitMs(longestCallMs)).toBe(ackWaitMs)
  })
})

describe("the backoff between deliveries", () => {
  it.each([
    [1_000, 1, []],
    [1_000, 2, [1_000]],
    [1_000, 4, [1_000, 2_000, 4_000]],
    [2_000, 6, [2_000, 4_000, 8_000, 16_000, 16_000]],
    [30_000, 4, [30_000, 60_000, 120_000]]
  ])("after an ack wait of %d ms and %d deliveries is %j", (ackWaitMs, maxDeliver, delays) => {
    expect(backoffMs(ackWaitMs, maxDeliver)).toEqual(delays)
  })

  it("has fewer entries than deliveries and starts at the ack wait, as nats-server 2.9 requires", () => {
    for (const maxDeliver of [1, 2, 3, 10])
      for (const ackWaitMs of [1_000, 7_000]) {
        const delays = backoffMs(ackWaitMs, maxDeliver)
        expect(delays.length).toBeLessThan(maxDeliver)
        if (delays.length > 0) expect(delays[0]).toBe(ackWaitMs)
        expect(delays).toEqual([...delays].sort((a, b) => a - b))
      }
  })
})

const set = (ackWaitMs: number): AckWaitChoice => ({ mode: "set", ackWaitMs })
const measured = (ackWaitMs: number): AckWaitChoice => ({ mode: "measured", ackWaitMs })
const unmeasured: AckWaitChoice = { mode: "unmeasured", ackWaitMs: 30_000 }

describe("what a submitter writes", () => {
  it.each([
    ["no consumer, no --ack-wait", undefined, undefined, unmeasured],
    ["no consumer, --ack-wait 5", undefined, 5_000, set(5_000)],
    ["a measured one, no --ack-wait: kept", measured(2_000), undefined, measured(2_000)],
    ["a measured one, --ack-wait 5", measured(2_000), 5_000, set(5_000)],
    ["one set before, no --ack-wait: measured again", set(5_000), undefined, unmeasured],
    ["an unmeasured one", unmeasured, undefined, unmeasured]
  ] as const)("%s", (_, existing, overrideMs, expected) => {
    expect(submittedAckWait(existing, overrideMs)).toEqual(expected)
  })
})

describe("what a replica that timed its calls writes", () => {
  it.each([
    ["over the unmeasured default, even lower", unmeasured, 3, 1_000],
    ["over a set one: nothing", set(2_000), 5_000, undefined],
    ["a measured one already covers the calls: nothing", measured(1_000), 3, undefined],
    ["a measured one too short: raised", measured(1_000), 600, 3_000],
    ["a measured one longer than these calls ask: kept (the slowest replica's)", measured(8_000), 600, undefined]
  ] as const)("%s", (_, current, longestCallMs, expected) => {
    expect(measuredAckWait(current, longestCallMs)).toBe(expected)
  })
})

describe("the consumer config", () => {
  it("carries the ack wait, the backoff in nanoseconds and how the ack wait was chosen", () => {
    expect(timingConfig(measured(2_000), 3)).toEqual({
      description: "modelbus batch: ack wait measured from model calls",
      ack_wait: 2_000_000_000,
      backoff: [2_000_000_000, 4_000_000_000],
      max_deliver: 3
    })
    expect(timingConfig(set(1_000), 1).backoff).toEqual([])
  })

  it("reads back the choice it holds; a consumer modelbus did not describe is kept as set", () => {
    for (const choice of [set(3_000), measured(1_000), unmeasured])
      expect(choiceOfConfig(timingConfig(choice, 4))).toEqual(choice)
    expect(choiceOfConfig({ ack_wait: 10_000_000_000 })).toEqual(set(10_000))
    expect(modeOfDescription("made by hand")).toBe("set")
    expect(modeOfDescription(timingDescription("unmeasured"))).toBe("unmeasured")
  })
})
