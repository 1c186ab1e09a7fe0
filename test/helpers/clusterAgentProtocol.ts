// What the test process asks of the client agent in the client namespace, over the agent's IPC channel:
// each operation's arguments and result, and the parent's side of the channel (one call, one reply).
import type { SupervisorStatus, UpdateResult } from "../../src/client/index.js"
import type { CliProcess } from "./processes.js"

/** One client's load so far: requests, failures (with a few messages), wrong answers, worst latency. */
export interface ClientLoad {
  readonly client: string
  readonly requests: number
  readonly failures: number
  readonly failureSamples: ReadonlyArray<string>
  readonly wrongAnswers: number
  readonly worstMs: number
  /** When the worst request was sent (Date.now()). */
  readonly worstStartedAt: number
  readonly retries: number
}

export interface StreamReplicaInfo {
  readonly numReplicas: number
  readonly lastSeq: number
  readonly leader: string | undefined
  readonly replicas: ReadonlyArray<{ readonly name: string; readonly current: boolean; readonly lag?: number }>
}

export interface AgentOps {
  /** Opens one modelbus client per entry (the Promise `connect()`), each on its own server list. */
  connect: { args: { clients: ReadonlyArray<{ name: string; servers: ReadonlyArray<string> }> }; result: null }
  /** Starts checked load (expected answers computed first) on every client. */
  startLoad: { args: { model: string; concurrencyPerClient: number }; result: null }
  loadProgress: { args: Record<string, never>; result: ReadonlyArray<ClientLoad> }
  /** Starts timing anew: `firstReplies` then says when each actor first answered the load after this. */
  mark: { args: Record<string, never>; result: null }
  /** Each actor that answered the load since the last `mark`: ms from the mark to its first reply. */
  firstReplies: { args: Record<string, never>; result: Record<string, number> }
  stopLoad: { args: Record<string, never>; result: ReadonlyArray<ClientLoad> }
  status: { args: { client?: string }; result: { ms: number; statuses: ReadonlyArray<SupervisorStatus> } }
  update: { args: { client?: string; model: string; path: string }; result: { ms: number; result: UpdateResult } }
  rollback: { args: { client?: string; model: string; to?: number }; result: { ms: number; result: UpdateResult } }
  infer: {
    args: { client?: string; model: string; rows: ReadonlyArray<ReadonlyArray<number>> }
    result: { version: number; data: ReadonlyArray<number> }
  }
  /** GETs a NATS monitoring URL (from inside the client namespace) and returns its JSON. */
  monitor: { args: { url: string }; result: unknown }
  /** JetStream stream info over a plain NATS connection to these servers, in this order. */
  streamInfo: { args: { servers: ReadonlyArray<string>; stream: string }; result: StreamReplicaInfo }
  /** Every value of a KV bucket, parsed as JSON, by key. */
  kvValues: { args: { servers: ReadonlyArray<string>; bucket: string }; result: Record<string, unknown> }
}
export type AgentOp = keyof AgentOps

export interface AgentRequest<K extends AgentOp = AgentOp> {
  readonly id: number
  readonly op: K
  readonly args: AgentOps[K]["args"]
}

export type AgentReply =
  | { readonly id: number; readonly ok: true; readonly value: unknown }
  | { readonly id: number; readonly ok: false; readonly error: { readonly tag: string; readonly message: string } }

/** The id of the message an agent sends once, unasked, when it is ready. */
export const READY_ID = -1

export interface AgentHandle {
  readonly process: CliProcess
  /** Resolves when the agent has loaded and listens; rejects if it exits first. */
  readonly ready: Promise<void>
  readonly call: <K extends AgentOp>(op: K, args: AgentOps[K]["args"]) => Promise<AgentOps[K]["result"]>
}

/** The parent's side: numbered requests, replies matched by id; an agent exit fails what is pending. */
export const agentHandle = (agent: CliProcess): AgentHandle => {
  const pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>()
  let next = 0
  const ready = new Promise<void>((resolve, reject) => {
    pending.set(READY_ID, { resolve: () => resolve(), reject })
  })
  agent.child.on("message", (reply: AgentReply) => {
    const waiter = pending.get(reply.id)
    pending.delete(reply.id)
    if (reply.ok) waiter?.resolve(reply.value)
    else waiter?.reject(new Error(`${reply.error.tag}: ${reply.error.message}`))
  })
  void agent.exited.then((exit) => {
    for (const waiter of pending.values())
      waiter.reject(new Error(`the client agent exited (${exit.signal ?? exit.code}); output:\n${agent.output()}`))
    pending.clear()
  })
  const call = <K extends AgentOp>(op: K, args: AgentOps[K]["args"]) =>
    new Promise<AgentOps[K]["result"]>((resolve, reject) => {
      const id = next++
      pending.set(id, { resolve: resolve as (v: unknown) => void, reject })
      agent.child.send({ id, op, args } satisfies AgentRequest<K>)
    })
  return { process: agent, ready, call }
}
