// Dead connections found in time, on a real nats-server behind a TCP relay that can go silent (a cut
// link: no reset, no data): the probe gives up after its short timeout and forces a reconnect to the
// next server; a probe whose timer fires while the event loop was busy still reads the PONG first.
import { createServer, type Server, Socket } from "node:net"
import { type NatsConnection, connect as natsConnect } from "@nats-io/transport-node"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { type LocalNatsServer, startLocalNatsServer } from "../../../src/cli/natsServer.js"
import { AVOID_SILENT_MS, silentServers, watchLiveness } from "../../../src/nats/liveness.js"

/** A relay to `port` that forwards bytes until `silence()`, then drops them and keeps the sockets open. */
const relay = async (port: number) => {
  let silent = false
  const sockets: Array<Socket> = []
  const server: Server = createServer((inbound) => {
    const outbound = new Socket()
    outbound.connect(port, "127.0.0.1")
    sockets.push(inbound, outbound)
    inbound.on("data", (d) => void (silent || outbound.write(d)))
    outbound.on("data", (d) => void (silent || inbound.write(d)))
    inbound.on("error", () => undefined)
    outbound.on("error", () => undefined)
  })
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", () => resolve()))
  const address = server.address()
  return {
    url: `nats://127.0.0.1:${typeof address === "object" && address !== null ? address.port : 0}`,
    silence: () => {
      silent = true
    },
    close: () => {
      for (const s of sockets) s.destroy()
      server.close()
    }
  }
}

let nats: LocalNatsServer
beforeAll(async () => {
  nats = await startLocalNatsServer({ jetstream: false })
})
afterAll(async () => {
  await nats?.stop()
})

const reconnected = (nc: NatsConnection) =>
  (async () => {
    for await (const s of nc.status()) if (s.type === "reconnect") return s.server
    return undefined
  })()

describe("liveness", () => {
  it("a silent server: the probe answers false after its timeout and the client reconnects to the next server", async () => {
    const link = await relay(nats.port)
    const silent = silentServers()
    const nc = await natsConnect({
      servers: [link.url, nats.url],
      noRandomize: true,
      reconnectTimeWait: 50,
      reconnectToServer: silent.pick
    })
    try {
      const liveness = watchLiveness(nc, { everyMs: 0, timeoutMs: 200, onDead: (_ms, server) => silent.mark(server) })
      expect(await liveness.probe()).toBe(true)
      const back = reconnected(nc)
      link.silence()
      const started = performance.now()
      expect(await liveness.probe()).toBe(false)
      const waited = performance.now() - started
      expect(liveness.reconnects()).toBe(1)
      expect(await back).toBe(nats.url.replace("nats://", ""))
      expect(await liveness.probe()).toBe(true)
      console.log(`silent server given up after ${Math.round(waited)} ms (probe timeout 200 ms)`)
    } finally {
      link.close()
      await nc.close()
    }
  })

  it("the steady beat finds a silent server with nobody asking", async () => {
    const link = await relay(nats.port)
    const silent = silentServers()
    const nc = await natsConnect({
      servers: [link.url, nats.url],
      noRandomize: true,
      reconnectTimeWait: 50,
      reconnectToServer: silent.pick
    })
    try {
      const dead: Array<string> = []
      const liveness = watchLiveness(nc, {
        everyMs: 100,
        timeoutMs: 200,
        onDead: (_ms, server) => {
          dead.push(server)
          silent.mark(server)
        }
      })
      const back = reconnected(nc)
      link.silence()
      expect(await back).toBe(nats.url.replace("nats://", ""))
      expect(dead).toEqual([link.url.replace("nats://", "")])
      liveness.stop()
    } finally {
      link.close()
      await nc.close()
    }
  })

  it("a busy event loop is not a dead server: the PONG read after the stall counts", async () => {
    const nc = await natsConnect({ servers: nats.url })
    try {
      const liveness = watchLiveness(nc, { everyMs: 0, timeoutMs: 50 })
      const probe = liveness.probe()
      const until = performance.now() + 300
      while (performance.now() < until) {
        // a synchronous step longer than the probe's timeout (a model loading, a long GC)
      }
      expect(await probe).toBe(true)
      expect(liveness.reconnects()).toBe(0)
    } finally {
      await nc.close()
    }
  })

  it("passes over a server lately found silent when picking where to reconnect, until AVOID_SILENT_MS has passed", () => {
    let now = 1_000
    const silent = silentServers(() => now)
    const pool = [{ listen: "a:1" }, { listen: "b:2" }, { listen: "c:3" }]
    expect(silent.pick(pool)).toBeNull()
    silent.mark("a:1")
    expect(silent.pick(pool)).toBe(pool[1])
    silent.mark("b:2")
    expect(silent.pick(pool)).toBe(pool[2])
    silent.mark("c:3")
    expect(silent.pick(pool)).toBeNull()
    now += AVOID_SILENT_MS
    expect(silent.pick(pool)).toBeNull()
  })
})
