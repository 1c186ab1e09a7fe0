// `modelbus restart`, `scale` and `events`: operating a running deployment from another shell
// through the client's control operations; results print as one line each, or as JSON (--json).
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"
import type { ControlReply, LifecycleEvent } from "../protocol/messages.js"
import { type Connection, withClient } from "./client.js"
import { printResult } from "./output.js"

/** One line per supervisor that acted: what it did to which actors (pure). */
export const controlSummary = (verb: string, replies: ReadonlyArray<ControlReply>): string =>
  replies.map((r) => `supervisor ${r.supervisor}: ${verb} ${r.done.join(", ")}`).join("\n")

export const restart = (c: Connection, target: string, timeoutMs: number, json: boolean) =>
  withClient(c, (client) => client.restart(target, { timeoutMs })).pipe(
    Effect.flatMap((replies) =>
      printResult(json, { target, supervisors: replies }, (r) => controlSummary("replaced", r.supervisors))
    )
  )

export const scale = (
  c: Connection,
  model: string,
  replicas: number,
  supervisor: string | undefined,
  timeoutMs: number,
  json: boolean
) =>
  withClient(c, (client) =>
    client.scale(model, replicas, { timeoutMs, ...(supervisor === undefined ? {} : { supervisor }) })
  ).pipe(
    Effect.flatMap((replies) =>
      printResult(json, { model, replicas, supervisors: replies }, (r) =>
        controlSummary(`scaled ${model} to ${replicas}:`, r.supervisors)
      )
    )
  )

/** One line per event: a readable one, or the event itself as JSON. */
export const formatEvent = (e: LifecycleEvent, json: boolean): string => {
  if (json) return JSON.stringify(e)
  const fields = [
    e.actor === undefined ? undefined : `actor=${e.actor}`,
    e.pid === undefined ? undefined : `pid=${e.pid}`,
    e.restarts === undefined ? undefined : `restarts=${e.restarts}`,
    e.replicas === undefined ? undefined : `replicas=${e.replicas}`,
    e.loadMs === undefined ? undefined : `loadMs=${e.loadMs}`,
    e.target === undefined ? undefined : `target=${e.target}`,
    e.observed === undefined ? undefined : `observed=${e.observed}`,
    e.decidedBy === undefined ? undefined : `decidedBy=${e.decidedBy}`,
    e.threshold === undefined ? undefined : `threshold=${e.threshold}`,
    e.reason === undefined ? undefined : `reason=${JSON.stringify(e.reason)}`
  ].filter((f) => f !== undefined)
  return `${new Date(e.at).toISOString()} ${e.model} ${e.type} ${fields.join(" ")} supervisor=${e.supervisor}`
}

export const events = (c: Connection, model: string | undefined, json: boolean) =>
  withClient(c, (client) => Stream.runForEach(client.events(model), (e) => Console.log(formatEvent(e, json))))
