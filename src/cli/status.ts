// `modelbus status [--json]`: asks every supervisor and prints their actors merged, as a table
// or as `{"actors": [...]}` with each actor naming its supervisor.
import { Console, Effect } from "effect"
import { makeModelClient } from "../client/ModelClient.js"
import type { ActorStatus, SupervisorStatus } from "../protocol/messages.js"

/** Every actor of every supervisor, each naming its supervisor (pure). */
export const mergeStatuses = (statuses: ReadonlyArray<SupervisorStatus>): ReadonlyArray<ActorStatus> =>
  statuses.flatMap((s) => s.actors.map((a) => ({ ...a, supervisor: s.supervisor.id })))

const table = (statuses: ReadonlyArray<SupervisorStatus>): string => {
  if (statuses.length === 0) return "no supervisor answered"
  const header = ["ACTOR", "MODEL", "PID", "STATE", "VERSION", "LOADS", "RESTARTS", "SERVED", "ERRORS", "INFLIGHT", "LAST EXIT"]
  const rows = mergeStatuses(statuses).map((a) => [
    a.id, a.model, String(a.pid ?? "-"), a.state, String(a.version), String(a.loads), String(a.restarts),
    String(a.served), String(a.errors), String(a.inflight), a.lastExit ?? ""
  ])
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)))
  const line = (cells: ReadonlyArray<string>) => cells.map((c, i) => c.padEnd(widths[i]!)).join("  ").trimEnd()
  const supervisors = statuses.map((s) => `supervisor ${s.supervisor.id} pid ${s.supervisor.pid} on ${s.supervisor.host}`)
  return [...supervisors, "", line(header), ...rows.map(line)].join("\n")
}

export const status = Effect.fnUntraced(function*(options: {
  readonly json: boolean
  readonly server: string | undefined
  readonly prefix: string | undefined
}) {
  const statuses = yield* Effect.scoped(
    Effect.gen(function*() {
      const client = yield* makeModelClient({
        ...(options.server === undefined ? {} : { servers: options.server }),
        ...(options.prefix === undefined ? {} : { prefix: options.prefix }),
        name: "modelbus-cli"
      })
      return yield* client.status()
    })
  )
  yield* Console.log(options.json ? JSON.stringify({ actors: mergeStatuses(statuses) }, null, 2) : table(statuses))
})
