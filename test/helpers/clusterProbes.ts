// What the cluster tests observe, all asked from the client host: status by host, which connections and
// routes a node has, each node's own copy of a stream, the load's progress; and how figures are printed.
import type { ActorStatus, SupervisorStatus } from "../../src/client/index.js"
import type { Cluster } from "./cluster.js"
import type { ClientLoad } from "./clusterAgentProtocol.js"
import { eventually } from "./processes.js"

/** Prints one line of figures, found in the log by its prefix. */
export const printFigures = (name: string, values: object) =>
  console.log(`cluster figures, ${name}: ${JSON.stringify(values)}`)

export const msSince = (start: number) => Math.round(performance.now() - start)

/** `modelbus status` over the cluster, keyed by host; a supervisor is known by its pid (its host's namespace ran it). */
export const statusByHost = async (cluster: Cluster): Promise<Map<string, SupervisorStatus>> => {
  const { statuses } = await cluster.agent.call("status", {})
  const hostByPid = new Map(
    cluster.topology.supervisors.flatMap(({ name, host }) => {
      const pid = cluster.supervisors.get(name)?.pid
      return pid === undefined ? [] : [[pid, host] as const]
    })
  )
  return new Map(
    statuses.flatMap((s) => {
      const host = hostByPid.get(s.supervisor.pid)
      return host === undefined ? [] : [[host, s] as const]
    })
  )
}

export const actorsOn = async (cluster: Cluster, host: string, model: string): Promise<ReadonlyArray<ActorStatus>> =>
  ((await statusByHost(cluster)).get(host)?.actors ?? []).filter((a) => a.model === model)

/** The names of the client connections a node holds (`modelbus-supervisor <id>`, `modelbus-actor <id>`, …). */
export const connectionNames = async (cluster: Cluster, node: string): Promise<ReadonlyArray<string>> => {
  const connz = await cluster.monitor<{ connections: ReadonlyArray<{ name?: string }> }>(node, "/connz?limit=4096")
  return connz.connections.flatMap((c) => (c.name === undefined ? [] : [c.name]))
}

/** Whether `node` has a route to the host at `address`. */
export const routesTo = async (cluster: Cluster, node: string, address: string): Promise<boolean> => {
  const routez = await cluster.monitor<{ routes: ReadonlyArray<{ ip: string }> | null }>(node, "/routez")
  return (routez.routes ?? []).some((r) => r.ip === address)
}

interface Jsz {
  readonly account_details?: ReadonlyArray<{
    readonly stream_detail?: ReadonlyArray<{ readonly name: string; readonly state: { readonly last_seq: number } }>
  }>
}

/** The last sequence of `stream` in the copy `node` itself stores (its monitoring port, not the stream leader). */
export const localLastSeq = async (cluster: Cluster, node: string, stream: string): Promise<number | undefined> => {
  const jsz = await cluster.monitor<Jsz>(node, "/jsz?accounts=true&streams=true")
  return (jsz.account_details ?? []).flatMap((a) => a.stream_detail ?? []).find((s) => s.name === stream)?.state
    .last_seq
}

export interface LoadTotals {
  readonly requests: number
  readonly failures: number
  readonly wrongAnswers: number
  readonly worstMs: number
  readonly retries: number
  readonly failureSamples: ReadonlyArray<string>
  readonly perClient: Record<string, number>
  /** Each client's worst request, in ms. */
  readonly worstPerClient: Record<string, number>
}

export const loadTotals = (loads: ReadonlyArray<ClientLoad>): LoadTotals => ({
  requests: loads.reduce((n, l) => n + l.requests, 0),
  failures: loads.reduce((n, l) => n + l.failures, 0),
  wrongAnswers: loads.reduce((n, l) => n + l.wrongAnswers, 0),
  worstMs: Math.max(0, ...loads.map((l) => l.worstMs)),
  retries: loads.reduce((n, l) => n + l.retries, 0),
  failureSamples: loads.flatMap((l) => l.failureSamples.map((s) => `${l.client}: ${s}`)),
  perClient: Object.fromEntries(loads.map((l) => [l.client, l.requests])),
  worstPerClient: Object.fromEntries(loads.map((l) => [l.client, l.worstMs]))
})

/** Waits until every client of the load has answered `atLeast` more requests than in `since`. */
export const loadProgressed = async (
  cluster: Cluster,
  atLeast: number,
  since: ReadonlyArray<ClientLoad> = [],
  timeoutMs = 30_000
): Promise<ReadonlyArray<ClientLoad>> => {
  let last: ReadonlyArray<ClientLoad> = []
  const before = (client: string) => since.find((s) => s.client === client)?.requests ?? 0
  try {
    return await eventually(
      async () => {
        last = await cluster.agent.call("loadProgress", {})
        return last.length > 0 && last.every((c) => c.requests - before(c.client) >= atLeast) ? last : undefined
      },
      timeoutMs,
      `every client to answer ${atLeast} more requests`
    )
  } catch (error) {
    const progress = last.map((c) => ({ ...c, since: c.requests - before(c.client) }))
    throw new Error(`${String(error)}; load now: ${JSON.stringify(progress)}`)
  }
}

/** Waits until every one of `actors` has answered the load since the agent's last `mark`; the latest first reply, in ms. */
export const answeredSinceMark = (cluster: Cluster, actors: ReadonlyArray<string>, timeoutMs = 60_000) =>
  eventually(
    async () => {
      const first = await cluster.agent.call("firstReplies", {})
      const times = actors.map((id) => first[id])
      return times.every((t) => t !== undefined) ? Math.max(...(times as Array<number>)) : undefined
    },
    timeoutMs,
    `${actors.join(", ")} to answer again`
  )
