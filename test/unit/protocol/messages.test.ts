// The Schemas of what replicas and supervisors publish (update acks, lifecycle events, control and fit
// replies): what they write decodes; anything else someone publishes on those subjects is refused.
import { Option, Schema } from "effect"
import { describe, expect, it } from "vitest"
import { FitReply } from "../../../src/protocol/fit.js"
import { AutoscaleReport, ControlReply, LifecycleEvent, UpdateAck } from "../../../src/protocol/messages.js"

const decodes = (schema: Schema.ConstraintDecoder<unknown>, value: unknown) =>
  Option.isSome(Schema.decodeUnknownOption(schema)(value))

describe("published message Schemas", () => {
  it("decode what modelbus writes", () => {
    expect(decodes(UpdateAck, { actor: "a-1@x", model: "a", version: 2, ok: false, error: "why", loads: 2 })).toBe(true)
    expect(decodes(LifecycleEvent, { type: "started", model: "a", supervisor: "x", at: 1, pid: 4, loadMs: 3 })).toBe(
      true
    )
    expect(decodes(ControlReply, { supervisor: "x", done: ["a-1@x"] })).toBe(true)
    expect(decodes(FitReply, { version: 3, loss: [0.5, 0.25], actor: "a-1@x" })).toBe(true)
  })

  it("refuse anything else: wrong types, unknown event types, missing fields", () => {
    for (const value of [null, "x", [], { actor: "a", model: "a", version: "2", ok: true, loads: 1 }]) {
      expect(decodes(UpdateAck, value)).toBe(false)
    }
    expect(decodes(LifecycleEvent, { type: "exploded", model: "a", supervisor: "x", at: 1 })).toBe(false)
    expect(decodes(LifecycleEvent, { type: "started", model: "a", at: 1 })).toBe(false)
    expect(decodes(ControlReply, { supervisor: "x", done: "a-1@x" })).toBe(false)
    expect(decodes(FitReply, { version: 0, loss: [], actor: "a" })).toBe(false)
    expect(decodes(FitReply, { version: 2, loss: ["x"], actor: "a" })).toBe(false)
  })
})

describe("AutoscaleReport", () => {
  const report = { supervisor: "k3j9x2", actors: 2, replicas: 1, inflight: 3.5, refused: 0, leftQueueGroup: 0, held: 0 }
  it("decodes what a supervisor publishes, and the fields of an autoscaler's scaled event", () => {
    expect(decodes(AutoscaleReport, report)).toBe(true)
    const scaled = { type: "scaled", model: "a", supervisor: "x", at: 1, replicas: 3, target: 3, observed: 5.5 }
    expect(decodes(LifecycleEvent, { ...scaled, reason: "load above target", decidedBy: "autoscale@x" })).toBe(true)
  })

  it("refuses a report with a count missing, negative, or not a number", () => {
    const { held: _, ...withoutHeld } = report
    for (const bad of [
      withoutHeld,
      { ...report, inflight: -1 },
      { ...report, replicas: "2" },
      { ...report, supervisor: 7 }
    ])
      expect(decodes(AutoscaleReport, bad)).toBe(false)
  })
})
