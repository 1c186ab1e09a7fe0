// The load driver, a process of its own so its CPU and memory are measured like the servers':
// one client kind per process (modelbus client, muxed inbox, nats.js request(), Moleculer broker).
import { type NatsConnection, connect as natsConnect } from "@nats-io/transport-node"
import { DriverKind, type DriverSetup } from "./driverSetup.js"
import { closedLoop, type LoadPlan } from "./loadgen.js"
import { inputPool, modelNamed } from "./models.js"
import { MuxedClient } from "./muxedClient.js"
import { dist } from "./paths.js"
import { serveRpc } from "./rpc.js"

type Call = (i: number) => Promise<unknown>

const setupCall = async (setup: DriverSetup): Promise<{ call: Call; close: () => Promise<void> }> => {
  const model = modelNamed(setup.model)
  const pool = inputPool(model)
  if (setup.kind === DriverKind.modelbus) {
    const { connect } = await dist.client()
    const client = await connect({
      servers: setup.natsUrl,
      ...(setup.prefix === undefined ? {} : { prefix: setup.prefix }),
      retry: false,
      timeoutMs: setup.timeoutMs,
      name: "bench-driver"
    })
    const inputs = pool.map((t) => ({ [model.inputName]: t }))
    return { call: (i) => client.infer(model.name, inputs[i % inputs.length]!), close: () => client.close() }
  }
  if (setup.kind === DriverKind.muxed || setup.kind === DriverKind.request) {
    const { encodeRequest } = await dist.codec()
    const bodies = pool.map((t) => encodeRequest({ [model.inputName]: t }, undefined, "msgpack"))
    const nc: NatsConnection = await natsConnect({ servers: setup.natsUrl, name: `bench-driver-${setup.kind}` })
    const subject = setup.subject!
    if (setup.kind === DriverKind.muxed) {
      const mux = new MuxedClient(nc, setup.timeoutMs)
      return {
        call: (i) => mux.request(subject, bodies[i % bodies.length]!),
        close: () => {
          mux.close()
          return nc.drain()
        }
      }
    }
    const timeout = setup.timeoutMs
    return { call: (i) => nc.request(subject, bodies[i % bodies.length]!, { timeout }), close: () => nc.drain() }
  }
  // Imported only by Moleculer drivers, so the other clients' processes do not carry it.
  const { default: Moleculer } = await import("moleculer")
  const { moleculerBrokerOptions, moleculerService } = await import("./moleculerShared.js")
  const binary = setup.kind === DriverKind.moleculerMsgpack
  const broker = new Moleculer.ServiceBroker(moleculerBrokerOptions(`client-${process.pid}`, setup.natsUrl, binary))
  await broker.start()
  const action = `${moleculerService(model.name)}.predict`
  await broker.waitForServices(moleculerService(model.name), 30_000)
  // Wait until every service node is known, so the balancer spreads calls over all of them.
  for (let tries = 0; tries < 200; tries++) {
    const nodes = (await broker.call("$node.list", { onlyAvailable: true })) as Array<{ id: string }>
    if (nodes.filter((n) => n.id.startsWith("worker")).length >= (setup.workers ?? 1)) break
    await new Promise((r) => setTimeout(r, 100))
  }
  const params = pool.map((t) => ({
    shape: t.shape,
    data: binary ? new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength) : Array.from(t.data)
  }))
  return { call: (i) => broker.call(action, params[i % params.length]!), close: () => broker.stop() }
}

let current: { call: Call; close: () => Promise<void> } | undefined

serveRpc(async (command, emit) => {
  switch (command.type) {
    case "setup":
      current = await setupCall(command.setup as DriverSetup)
      return { pid: process.pid }
    case "run": {
      if (current === undefined) throw new Error("run before setup")
      return await closedLoop(current.call, command.plan as LoadPlan, { onWindow: (edge) => emit(`window-${edge}`) })
    }
    case "close":
      await current?.close()
      current = undefined
      return {}
    default:
      throw new Error(`unknown command ${command.type}`)
  }
})
process.send!({ ready: true })
