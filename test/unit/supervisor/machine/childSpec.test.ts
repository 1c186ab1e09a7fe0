// OTP's restart rule for one child and how a process exit becomes an exit reason.
import { describe, expect, it } from "vitest"
import {
  describeExit,
  type ExitReason,
  exitReasonOf,
  isAbnormal,
  type RestartType,
  shouldRestart
} from "../../../../src/supervisor/machine/childSpec.js"

const normal: ExitReason = { kind: "normal" }
const code: ExitReason = { kind: "code", code: 1 }
const signal: ExitReason = { kind: "signal", signal: "SIGKILL" }
const hang: ExitReason = { kind: "hang", silentMs: 5000 }
const startFailed: ExitReason = { kind: "startFailed", message: "no model.json" }

describe("shouldRestart", () => {
  const table: ReadonlyArray<[RestartType, ExitReason, boolean]> = [
    ["permanent", normal, true],
    ["permanent", code, true],
    ["permanent", signal, true],
    ["permanent", hang, true],
    ["permanent", startFailed, true],
    ["transient", normal, false],
    ["transient", code, true],
    ["transient", signal, true],
    ["transient", hang, true],
    ["transient", startFailed, true],
    ["temporary", normal, false],
    ["temporary", code, false],
    ["temporary", signal, false],
    ["temporary", hang, false],
    ["temporary", startFailed, false]
  ]
  for (const [restart, reason, expected] of table) {
    it(`${restart} after ${reason.kind} → ${expected ? "restart" : "leave"}`, () => {
      expect(shouldRestart(restart, reason)).toBe(expected)
    })
  }
})

describe("exitReasonOf", () => {
  it("code 0 and no signal is a normal exit", () => {
    expect(exitReasonOf(0, null)).toEqual({ kind: "normal" })
    expect(isAbnormal(exitReasonOf(0, null))).toBe(false)
  })

  it("a non-zero code is abnormal and keeps the code", () => {
    expect(exitReasonOf(1, null)).toEqual({ kind: "code", code: 1 })
    expect(exitReasonOf(137, null)).toEqual({ kind: "code", code: 137 })
    expect(isAbnormal(exitReasonOf(2, null))).toBe(true)
  })

  it("a signal wins over the code (node reports code null then)", () => {
    expect(exitReasonOf(null, "SIGKILL")).toEqual({ kind: "signal", signal: "SIGKILL" })
    expect(exitReasonOf(0, "SIGTERM")).toEqual({ kind: "signal", signal: "SIGTERM" })
    expect(isAbnormal(exitReasonOf(null, "SIGTERM"))).toBe(true)
  })

  it("neither code nor signal is an abnormal exit, not a normal one", () => {
    expect(exitReasonOf(null, null)).toEqual({ kind: "code", code: -1 })
    expect(shouldRestart("transient", exitReasonOf(null, null))).toBe(true)
  })
})

describe("describeExit", () => {
  it("says how the child ended", () => {
    expect(describeExit(normal)).toBe("exited normally")
    expect(describeExit(code)).toBe("exited with code 1")
    expect(describeExit(signal)).toBe("killed by SIGKILL")
    expect(describeExit(hang)).toBe("no heartbeat for 5000 ms")
    expect(describeExit(startFailed)).toBe("failed to start: no model.json")
  })
})
