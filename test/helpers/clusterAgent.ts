// The client agent: runs inside the client namespace (`ip netns exec … node --import tsx clusterAgent.ts`)
// and does what the test process asks over IPC with the real Promise client: load, status, updates, probes.
import { jetstreamManager } from "@nats-io/jetstream"
import { Kvm } from "@nats-io/kv"
import { type NatsConnection, connect as natsConnect } from "@nats-io/transport-node"
import { type Client, connect, type HostTensor } from "../../src/client/index.js"
import {
  type AgentOp,
  type AgentOps,
  type AgentReply,
  type AgentRequest,
  type ClientLoad,
  READY_ID
} from "./clusterAgentProtocol.js"
import { expectedAnswers, type Load, startLoad } from "./load.js"
import { irisRows } from "./processes.js"

const clients = new Map<string, Client>()
const loads = new Map<string, Load>()
const retriesAtStart = new Map<string, number>()
let markedAt = Date.now()
const firstReplyAfterMark = new Map<string, number>()

/** The client, noting which actor answered each request of the load (the reply names it). */
const observed = (client: Client): Client => ({
  ...client,
  infer: async (model, inputs, options) => {
    const reply = await client.infer(model, inputs, options)
    if (!firstReplyAfterMark.has(reply.actor)) firstReplyAfterMark.set(reply.actor, Date.now() - markedAt)
    return reply
  }
})

const firstClient = (name?: string): Client => {
  const client = name === undefined ? clients.values().next().value : clients.get(name)
  if (client === undefined) throw new Error(`no client ${name ?? ""}: call connect first`)
  return client
}

const loadFigures = (): ReadonlyArray<ClientLoad> =>
  [...loads].map(([name, load]) => ({
    client: name,
    requests: load.summary.requests,
    failures: load.summary.failures.length,
    failureSamples: load.summary.failures.slice(0, 3).map((e) => {
      const { tag, message } = describe(e)
      return `${tag}: ${message}`
    }),
    wrongAnswers: load.summary.wrongAnswers,
    worstMs: Math.round(load.summary.worstMs),
    worstStartedAt: load.summary.worstStartedAt,
    retries: firstClient(name).stats().retries - (retriesAtStart.get(name) ?? 0)
  }))

const timed = async <A>(work: () => Promise<A>) => {
  const started = performance.now()
  const result = await work()
  return { ms: Math.round(performance.now() - started), result }
}

const handlers: { [K in AgentOp]: (args: AgentOps[K]["args"]) => Promise<AgentOps[K]["result"]> } = {
  connect: async ({ clients: wanted }) => {
    for (const { name, servers } of wanted) clients.set(name, await connect({ servers: [...servers], name }))
    return null
  },
  startLoad: async ({ model, concurrencyPerClient }) => {
    const rows = await irisRows()
    const expected = await expectedAnswers(firstClient(), model, rows)
    for (const [name, client] of clients) {
      retriesAtStart.set(name, client.stats().retries)
      loads.set(name, startLoad(observed(client), model, rows, expected, concurrencyPerClient))
    }
    return null
  },
  loadProgress: async () => loadFigures(),
  mark: async () => {
    markedAt = Date.now()
    firstReplyAfterMark.clear()
    return null
  },
  firstReplies: async () => Object.fromEntries(firstReplyAfterMark),
  stopLoad: async () => {
    await Promise.all([...loads.values()].map((load) => load.stop()))
    const figures = loadFigures()
    loads.clear()
    return figures
  },
  status: async ({ client }) => {
    const { ms, result } = await timed(() => firstClient(client).status())
    return { ms, statuses: result }
  },
  update: ({ client, model, path }) => timed(() => firstClient(client).updateModel(model, { path })),
  rollback: ({ client, model, to }) => timed(() => firstClient(client).rollbackModel(model, to)),
  infer: async ({ client, model, rows }) => {
    const reply = await firstClient(client).infer(model, rows)
    return { version: reply.version, data: Array.from((reply.outputs as HostTensor).data as Float32Array) }
  },
  monitor: async ({ url }) => {
    const response = await fetch(url, { signal: AbortSignal.timeout(2_000) })
    if (!response.ok) throw new Error(`GET ${url}: ${response.status}`)
    return response.json()
  },
  streamInfo: ({ servers, stream }) =>
    withConnection(servers, async (nc) => {
      const info = await (await jetstreamManager(nc)).streams.info(stream)
      return {
        numReplicas: info.config.num_replicas,
        lastSeq: info.state.last_seq,
        leader: info.cluster?.leader,
        replicas: (info.cluster?.replicas ?? []).map((r) => ({
          name: r.name,
          current: r.current,
          ...(r.lag === undefined ? {} : { lag: r.lag })
        }))
      }
    }),
  kvValues: ({ servers, bucket }) =>
    withConnection(servers, async (nc) => {
      const kv = await new Kvm(nc).open(bucket)
      const values: Record<string, unknown> = {}
      for await (const key of await kv.keys()) {
        const entry = await kv.get(key)
        if (entry !== null && entry.operation === "PUT") values[key] = entry.json()
      }
      return values
    })
}

/** A plain NATS connection to these servers, in this order, for one probe. */
async function withConnection<A>(servers: ReadonlyArray<string>, probe: (nc: NatsConnection) => Promise<A>) {
  const nc = await natsConnect({ servers: [...servers], noRandomize: true, timeout: 2_000 })
  try {
    return await probe(nc)
  } finally {
    await nc.close()
  }
}

function describe(error: unknown): { tag: string; message: string } {
  if (error instanceof Error) return { tag: (error as { _tag?: string })._tag ?? error.name, message: error.message }
  return { tag: "Error", message: String(error) }
}

const reply = (message: AgentReply) => process.send?.(message)

process.on("message", (request: AgentRequest) => {
  const handler = handlers[request.op] as (args: unknown) => Promise<unknown>
  handler(request.args).then(
    (value) => reply({ id: request.id, ok: true, value }),
    (error: unknown) => reply({ id: request.id, ok: false, error: describe(error) })
  )
})

// The test process closing the channel is the signal to stop (loads first, then the connections).
process.on("disconnect", () => {
  void Promise.all([...loads.values()].map((load) => load.stop()))
    .then(() => Promise.all([...clients.values()].map((client) => client.close())))
    .finally(() => process.exit(0))
})

if (process.send === undefined) throw new Error("clusterAgent.ts runs as a child with an IPC channel")
process.send({ id: READY_ID, ok: true, value: "ready" } satisfies AgentReply)
