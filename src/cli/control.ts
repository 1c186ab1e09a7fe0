// `modelbus restart`, `scale` and `events`: operating a running deployment from another shell
// through the client's control operations; results print as one line each (or JSON lines).
import { Console, Effect, Stream } from "effect"
import type { ControlReply, LifecycleEvent } from "../protocol/messages.js"
import { type Connection, withClient } from "./client.js"

const summary = (verb: string, replies: ReadonlyArray<ControlReply>) =>
  replies.map((r) => `supervisor ${r.supervisor}: ${verb} ${r.done.join(", ")}`).join("\n")

export const restart = (c: Connection, target: string, timeoutMs: number) =>
  withClient(c, (client) => client.restart(target, { timeoutMs })).pipe(
    Effect.flatMap((r) => Console.log(summary("replaced", r)))
  )

export const scale = (
  c: Connection,
  model: string,
  replicas: number,
  supervisor: string | undefined,
  timeoutMs: number
) =>
  withClient(c, (client) =>
    client.scale(model, replicas, { timeoutMs, ...(supervisor === undefined ? {} : { supervisor }) })
  ).pipe(Effect.flatMap((r) => Console.log(summary(`scaled ${model} to ${replicas}:`, r))))

/** One line per event: a readable one, or the event itself as JSON. */
export const formatEvent = (e: LifecycleEvent, json: boolean): string => {
  if (json) return JSON.stringify(e)
  const fields = [
    e.actor === undefined ? undefined : `actor=${e.actor}`,
    e.pid === undefined ? undefined : `pid=${e.pid}`,
    e.restarts === undefined ? undefined : `restarts=${e.restarts}`,
    e.replicas === undefined ? undefined : `replicas=${e.replicas}`,
    e.loadMs === undefined ? undefined : `loadMs=${e.loadMs}`,
    e.reason === undefined ? undefined : `reason=${JSON.stringify(e.reason)}`
  ].filter((f) => f !== undefined)
  return `${new Date(e.at).toISOString()} ${e.model} ${e.type} ${fields.join(" ")} supervisor=${e.supervisor}`
}

export const events = (c: Connection, model: string | undefined, json: boolean) =>
  withClient(c, (client) => Stream.runForEach(client.events(model), (e) => Console.log(formatEvent(e, json))))
