// Server-side helper groups for the comparison scenarios, one process per actor replica: the raw
// NATS echo, the load-per-request responder, and Moleculer service nodes; started, then stopped.
import { forkHelper, type Started } from "./children.js"
import type { Watched } from "./procStats.js"

export interface Group {
  readonly processes: ReadonlyArray<Started>
  readonly watched: ReadonlyArray<Watched>
  readonly stop: () => Promise<void>
}

const startGroup = async (
  file: string,
  count: number,
  role: string,
  ready: RegExp,
  env: (i: number) => NodeJS.ProcessEnv
): Promise<Group> => {
  const processes = Array.from({ length: count }, (_, i) => forkHelper(file, `${role}-${i + 1}`, env(i)))
  const stop = async () => void (await Promise.all(processes.map((p) => p.stop())))
  try {
    await Promise.all(processes.map((p) => p.waitForLine(ready, 60_000)))
  } catch (error) {
    await stop()
    throw error
  }
  return { processes, watched: processes.map((p, i) => ({ role: `${role}-${i + 1}`, pid: p.pid })), stop }
}

export const echoSubject = (model: string) => `bench.echo.${model}`

export const startEcho = (natsUrl: string, model: string, count: number) =>
  startGroup("bench/lib/echoResponder.ts", count, "echo", /echo ready/, () => ({
    NATS_URL: natsUrl,
    ECHO_SUBJECT: echoSubject(model)
  }))

/** Responders that answer any request with one canned modelbus reply: the modelbus client alone. */
export const startCanned = (natsUrl: string, model: string, subject: string, count: number) =>
  startGroup("bench/lib/echoResponder.ts", count, "canned", /echo ready/, () => ({
    NATS_URL: natsUrl,
    ECHO_SUBJECT: subject,
    ECHO_REPLY_MODEL: model
  }))

export const loadPerRequestSubject = (model: string) => `bench.loadper.${model}`

export const startLoadPerRequest = (natsUrl: string, model: string, count: number) =>
  startGroup("bench/lib/loadPerRequest.ts", count, "loader", /load-per-request ready/, () => ({
    NATS_URL: natsUrl,
    BENCH_MODEL: model
  }))

export const startMoleculer = (natsUrl: string, model: string, count: number, serializer: "json" | "msgpack") =>
  startGroup("bench/lib/moleculerService.ts", count, "node", /moleculer ready/, (i) => ({
    NATS_URL: natsUrl,
    BENCH_MODEL: model,
    NODE_ID: `worker-${i + 1}`,
    MOLECULER_SERIALIZER: serializer
  }))
