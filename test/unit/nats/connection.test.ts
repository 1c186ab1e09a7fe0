// Where a command connects when it is given no --server: $NATS_URL, else the local default; a
// variable that is set but empty counts as unset, like the nats CLI.
import { describe, expect, it } from "vitest"
import { DEFAULT_SERVER, defaultServers } from "../../../src/nats/connection.js"

describe("default servers", () => {
  it("takes $NATS_URL, and the local default when it is unset, empty or blank", () => {
    expect(defaultServers({ NATS_URL: "nats://a:4222,nats://b:4222" })).toBe("nats://a:4222,nats://b:4222")
    expect(defaultServers({})).toBe(DEFAULT_SERVER)
    expect(defaultServers({ NATS_URL: "" })).toBe(DEFAULT_SERVER)
    expect(defaultServers({ NATS_URL: "  " })).toBe(DEFAULT_SERVER)
  })
})
