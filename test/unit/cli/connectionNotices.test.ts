import { describe, expect, it } from "vitest"
import { connectionNotice } from "../../../src/cli/connectionNotices.js"

describe("connection notices of a following command", () => {
  it("names the server it lost and says the job goes on", () => {
    expect(connectionNotice({ type: "disconnect", server: "127.0.0.1:4222" }, "job j1")).toBe(
      "lost the connection to NATS (127.0.0.1:4222): reconnecting; job j1 goes on in JetStream meanwhile (Ctrl-C leaves it running)"
    )
  })
  it("names the server it is back on", () => {
    expect(connectionNotice({ type: "reconnect", server: "127.0.0.1:4223" }, "job j1")).toBe(
      "reconnected to NATS (127.0.0.1:4223): following job j1 again"
    )
  })
  it("keeps quiet about the attempts in between and the other events", () => {
    expect(connectionNotice({ type: "reconnecting" }, "job j1")).toBeUndefined()
    expect(connectionNotice({ type: "ping", pendingPings: 1 }, "job j1")).toBeUndefined()
  })
})
