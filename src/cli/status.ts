// `modelbus status [--json]`: asks every supervisor and prints its tree (root → model supervisors
// → replicas with pid, state, uptime, restarts, last exit), or `{"actors": [...]}` merged; NotFound when none answers.
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import type { NatsAuth } from "../protocol/auth.js"
import { NotFound } from "../protocol/errors.js"
import {
  type ActorStatus,
  type AutoscaleStatus,
  isStandby,
  type SupervisorNode,
  type SupervisorStatus
} from "../protocol/messages.js"
import { subjects } from "../protocol/subjects.js"
import { withClient } from "./client.js"
import { jsonText } from "./output.js"

/** Every actor of every supervisor, each naming its supervisor (pure). */
export const mergeStatuses = (statuses: ReadonlyArray<SupervisorStatus>): ReadonlyArray<ActorStatus> =>
  statuses.flatMap((s) => s.actors.map((a) => ({ ...a, supervisor: s.supervisor.id })))

/** A duration as the two largest units: 3h12m, 4m05s, 12s. */
export const formatUptime = (ms: number): string => {
  const s = Math.max(0, Math.floor(ms / 1000))
  if (s < 60) return `${s}s`
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, "0")}s`
  if (s < 86400) return `${Math.floor(s / 3600)}h${String(Math.floor(s / 60) % 60).padStart(2, "0")}m`
  return `${Math.floor(s / 86400)}d${String(Math.floor(s / 3600) % 24).padStart(2, "0")}h`
}

const nodeLine = (n: SupervisorNode) =>
  `${n.name}  ${n.strategy}  intensity ${n.intensity}/${n.periodMs / 1000}s  ${n.state}  recent restarts ${n.recentRestarts}` +
  (n.escalations > 0 ? `  escalations ${n.escalations}` : "") +
  (n.autoscale === undefined ? "" : `  ${autoscaleText(n.autoscale)}`)

/** `autoscale: 2 → 4 (load above target for 2000 ms)`: replicas now, the target, and why. */
export const autoscaleText = (a: AutoscaleStatus): string => `autoscale: ${a.replicas} → ${a.target} (${a.reason})`

const actorLine = (a: ActorStatus, now: number) =>
  [
    a.id,
    `pid ${a.pid ?? "-"}`,
    a.state,
    a.startedAt === undefined ? undefined : `up ${formatUptime(now - a.startedAt)}`,
    `v${a.version}`,
    `loads ${a.loads}`,
    `restarts ${a.restarts}`,
    a.recycled ? `recycled ${a.recycled}` : undefined,
    `served ${a.served}`,
    `errors ${a.errors}`,
    `inflight ${a.inflight}`,
    a.lastExit === undefined ? undefined : `last exit: ${a.lastExit}`
  ]
    .filter((p) => p !== undefined)
    .join("  ")

const standbyLine = (a: ActorStatus, now: number) =>
  [
    a.id,
    `pid ${a.pid ?? "-"}`,
    a.state,
    a.startedAt === undefined ? undefined : `up ${formatUptime(now - a.startedAt)}`,
    `rss ${Math.round(a.rssBytes / (1024 * 1024))} MB`
  ]
    .filter((p) => p !== undefined)
    .join("  ")

/** The supervision trees as text (pure; `now` for uptimes); a supervisor's standby processes follow its models. */
export const renderTree = (statuses: ReadonlyArray<SupervisorStatus>, now: number): string => {
  if (statuses.length === 0) return "no supervisor answered"
  const lines: Array<string> = []
  for (const s of statuses) {
    const up = s.supervisor.startedAt === undefined ? "" : `  up ${formatUptime(now - s.supervisor.startedAt)}`
    lines.push(`supervisor ${s.supervisor.id}  pid ${s.supervisor.pid} on ${s.supervisor.host}${up}`)
    const standbys = s.actors.filter(isStandby)
    const models =
      s.tree?.models ??
      [...new Set(s.actors.filter((a) => !isStandby(a)).map((a) => a.model))].map(
        (name) => ({ name }) as SupervisorNode
      )
    if (s.tree !== undefined) lines.push(nodeLine(s.tree.root))
    models.forEach((m, i) => {
      const lastModel = i === models.length - 1 && standbys.length === 0
      lines.push(`${lastModel ? "└─" : "├─"} ${m.strategy === undefined ? m.name : nodeLine(m)}`)
      const actors = s.actors.filter((a) => a.model === m.name)
      actors.forEach((a, j) => {
        lines.push(`${lastModel ? "   " : "│  "}${j === actors.length - 1 ? "└─" : "├─"} ${actorLine(a, now)}`)
      })
    })
    standbys.forEach((a, j) => {
      lines.push(`${j === standbys.length - 1 ? "└─" : "├─"} ${standbyLine(a, now)}`)
    })
    lines.push("")
  }
  return lines.join("\n").trimEnd()
}

export const status = Effect.fnUntraced(function* (options: {
  readonly json: boolean
  readonly server: string | undefined
  readonly prefix: string | undefined
  readonly auth?: NatsAuth
}) {
  const statuses = yield* withClient(options, (client) => client.status())
  if (statuses.length === 0) {
    return yield* new NotFound({
      message: `no supervisor answered on ${subjects(options.prefix).status}`,
      target: "supervisor"
    })
  }
  if (options.json) yield* Console.log(jsonText({ actors: mergeStatuses(statuses) }))
  else yield* Console.log(renderTree(statuses, Date.now()))
})
