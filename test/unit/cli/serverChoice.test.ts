// Which NATS `up` and `supervise` use (--server, $NATS_URL, the config's, the default) and what `up` prints
// for the user to type next: the ready line's try command and the NATS_URL to export.
import { describe, expect, it } from "vitest"
import { chooseServers, DEFAULT_PORT, exportHint, ServerSource, tryCommand } from "../../../src/cli/serverChoice.js"

const flag = "nats://10.0.0.1:4222"
const env = "nats://10.0.0.2:4222"
const config = ["nats://10.0.0.3:4222", "nats://10.0.0.4:4222"]

describe("chooseServers", () => {
  it("takes --server, then $NATS_URL, then the config's servers, then the default address", () => {
    expect(chooseServers(flag, env, config)).toEqual({ servers: flag, source: ServerSource.flag })
    expect(chooseServers(undefined, env, config)).toEqual({ servers: env, source: ServerSource.env })
    expect(chooseServers(undefined, undefined, config)).toEqual({ servers: config, source: ServerSource.config })
    expect(chooseServers(undefined, undefined, undefined)).toEqual({
      servers: "nats://127.0.0.1:4222",
      source: ServerSource.default
    })
  })

  it("passes over an empty one ($NATS_URL set to nothing, an empty list)", () => {
    expect(chooseServers("", " ", [])).toEqual({ servers: "nats://127.0.0.1:4222", source: ServerSource.default })
    expect(chooseServers(undefined, "", "nats://10.0.0.3:4222").source).toBe(ServerSource.config)
  })

  it("counts the default address named explicitly as given, not as the default", () => {
    expect(chooseServers(undefined, undefined, "nats://127.0.0.1:4222").source).toBe(ServerSource.config)
  })
})

describe("what up prints", () => {
  it("starts its own server on the default address's port", () => {
    expect(DEFAULT_PORT).toBe(4222)
  })

  it("suggests npx modelbus with no -s on the default address, with -s anywhere else", () => {
    expect(tryCommand("iris", "nats://127.0.0.1:4222", "nats://127.0.0.1:4222")).toBe(
      "npx modelbus infer iris --input '[[5.1,3.5,1.4,0.2]]'"
    )
    expect(tryCommand("iris", [" nats://127.0.0.1:4222 "], "nats://127.0.0.1:4222")).not.toContain(" -s ")
    expect(tryCommand("iris", "nats://127.0.0.1:40111", "nats://127.0.0.1:40111")).toBe(
      "npx modelbus infer iris -s nats://127.0.0.1:40111 --input '[[5.1,3.5,1.4,0.2]]'"
    )
    expect(
      tryCommand("iris", "nats://127.0.0.1:4222,nats://127.0.0.1:4223", "nats://127.0.0.1:4222,nats://127.0.0.1:4223")
    ).toContain(" -s nats://127.0.0.1:4222,nats://127.0.0.1:4223 ")
  })

  it("shows the servers as given to it (credentials masked), never the raw ones", () => {
    expect(tryCommand("iris", "nats://me:secret@10.0.0.1:4222", "nats://me:***@10.0.0.1:4222")).not.toContain("secret")
  })

  it("ends the fallback notice with an export line a shell can run as printed", () => {
    const hint = exportHint("nats://127.0.0.1:40111", "nats-server cannot listen on 127.0.0.1:4222")
    expect(hint.startsWith("nats-server cannot listen on 127.0.0.1:4222; ")).toBe(true)
    expect(hint.split("\n").at(-1)?.trim()).toBe("export NATS_URL=nats://127.0.0.1:40111")
  })
})
