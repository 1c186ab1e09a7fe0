// What a replica says about its canary on the bus: acks of taking one up or dropping it, the figures it
// answers to a scatter-gather, and the lifecycle event of an abort its own guard decided.
import type { NatsConnection } from "@nats-io/transport-node"
import { Effect, type Scope } from "effect"
import {
  type CanaryAck,
  type CanaryFiguresReply,
  emptyShadowFigures,
  emptyVersionFigures
} from "../../protocol/canary.js"
import type { ActorSettings } from "../../protocol/ipc.js"
import { type LifecycleEvent, LifecycleEventType } from "../../protocol/messages.js"
import { subjects } from "../../protocol/subjects.js"
import type { CanaryPhase, CanaryState } from "../../registry/canaryState.js"
import { supervisorOf } from "../identity.js"
import type { GuardAbort, LiveCanary } from "./live.js"

const publish = (nc: NatsConnection, subject: string, body: unknown) => {
  if (!nc.isClosed()) nc.publish(subject, JSON.stringify(body))
}

/** Tells operators this replica took `state` up (or refused it, with `error`), or dropped it. */
export const ackCanary = (
  nc: NatsConnection,
  settings: ActorSettings,
  state: CanaryState,
  phase: CanaryPhase,
  loads: number,
  error?: string
): void => {
  const body: CanaryAck = {
    actor: settings.id,
    model: settings.model,
    version: state.candidate.version,
    ok: error === undefined,
    loads,
    canary: state.id,
    phase,
    ...(error === undefined ? {} : { error })
  }
  publish(nc, subjects(settings.prefix).canaryAcks(settings.model), body)
}

/** The `canaryAborted` event of an abort this replica's guard decided (it won the registry write). */
export const publishAbort = (nc: NatsConnection, settings: ActorSettings, verdict: GuardAbort, reason: string) => {
  const event: LifecycleEvent = {
    type: LifecycleEventType.canaryAborted,
    model: settings.model,
    supervisor: supervisorOf(settings.id),
    at: Date.now(),
    actor: settings.id,
    pid: process.pid,
    reason,
    threshold: verdict.threshold,
    figures: verdict.figures
  }
  publish(nc, subjects(settings.prefix).events(settings.model), event)
}

/** This replica's figures of `canary` (the last one it ran, or none yet) as it answers them. */
export const figuresReply = (
  settings: ActorSettings,
  canary: LiveCanary | undefined,
  live: boolean
): CanaryFiguresReply => ({
  actor: settings.id,
  model: settings.model,
  canary: canary?.state.id ?? "",
  live,
  stable: canary?.figures.stable ?? emptyVersionFigures(),
  candidate: canary?.figures.candidate ?? emptyVersionFigures(),
  shadow: canary?.figures.shadow ?? emptyShadowFigures()
})

/** Answers the canary figures subject (every replica, no queue group) for as long as the scope is open. */
export const answerFigures = (
  nc: NatsConnection,
  settings: ActorSettings,
  current: () => { readonly canary: LiveCanary | undefined; readonly live: boolean }
): Effect.Effect<void, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.sync(() =>
      nc.subscribe(subjects(settings.prefix).canaryFigures(settings.model), {
        callback: (error, msg) => {
          if (error !== null || !msg.reply) return
          const { canary, live } = current()
          msg.respond(JSON.stringify(figuresReply(settings, canary, live)))
        }
      })
    ),
    (sub) => Effect.sync(() => sub.unsubscribe())
  ).pipe(Effect.asVoid)
