// Status replies decoded with a Schema: a supervisor's answer arrives as the declared SupervisorStatus,
// and one that is not says which field is wrong, what was expected and what arrived.
import { describe, expect, it } from "vitest"
import { decodeSupervisorStatus } from "../../../src/client/statusReply.js"

const actor = {
  id: "iris-1@abc",
  model: "iris",
  pid: 4242,
  state: "serving",
  version: 3,
  loads: 1,
  restarts: 0,
  served: 10,
  errors: 0,
  inflight: 1,
  tensors: 12,
  rssBytes: 123_456,
  batching: { maxBatchSize: 8, source: "measured", version: 3 },
  exits: [{ at: 1, reason: "killed (SIGKILL)" }]
}
const status = {
  supervisor: { id: "abc", pid: 1, host: "h" },
  actors: [actor, { ...actor, id: "iris-2@abc", pid: null }]
}

describe("status replies", () => {
  it("decode to the declared shape, unknown fields of a newer supervisor left out", () => {
    const decoded = decodeSupervisorStatus({ ...status, extra: "from a newer supervisor" })
    expect(decoded).toEqual({ ok: true, value: status })
  })

  it("name the wrong field, what was expected and what arrived", () => {
    const wrong = decodeSupervisorStatus({ ...status, actors: [{ ...actor, state: "dancing", pid: "4242" }] })
    expect(wrong.ok).toBe(false)
    if (wrong.ok) return
    expect(wrong.reason).toMatch(/status\.actors\[0\]\.pid: .*"4242"/)
    expect(wrong.reason).toMatch(/status\.actors\[0\]\.state: .*"dancing"/)
    const missing = decodeSupervisorStatus({ actors: [] })
    expect(missing).toMatchObject({ ok: false, reason: expect.stringMatching(/status\.supervisor: .*[Mm]issing/) })
  })
})
