// An actor's answers about itself, off the infer path: NATS micro discovery on `$SRV.PING|INFO|STATS`
// (bare, `.<name>`, `.<name>.<id>`; every actor answers) and its model's metadata on
// `<prefix>.describe.<model>` (JSON; one replica answers, in a queue group, even while it is full).
import { type NatsConnection, headers as natsHeaders, type Subscription } from "@nats-io/transport-node"
import { Effect } from "effect"
import { CONTENT_TYPE_HEADER, JSON_CONTENT_TYPE } from "../protocol/codec.js"
import { MicroVerb, microSubject, subjects } from "../protocol/subjects.js"
import { type ActorIdentity, modelMetadata } from "./identity.js"
import { infoResponse, pingResponse, statsResponse } from "./microService.js"
import type { ServingModel } from "./servingModel.js"
import type { ActorStats } from "./stats.js"

/** Subscribes for as long as the scope is open; on release the subscriptions drain (answers in progress go out). */
export const answerDiscovery = (
  nc: NatsConnection,
  identity: ActorIdentity,
  serving: ServingModel,
  stats: ActorStats
) =>
  Effect.acquireRelease(
    Effect.sync(() => {
      const s = subjects(identity.prefix)
      const name = s.service(identity.model)
      const answers: ReadonlyArray<readonly [MicroVerb, () => unknown]> = [
        [MicroVerb.ping, () => pingResponse(identity, serving)],
        [MicroVerb.info, () => infoResponse(identity, serving, stats)],
        [MicroVerb.stats, () => statsResponse(identity, serving, stats)]
      ]
      const subscriptions: Array<Subscription> = []
      for (const [verb, answer] of answers) {
        for (const subject of [
          microSubject(verb),
          microSubject(verb, name),
          microSubject(verb, name, identity.instance)
        ]) {
          subscriptions.push(
            nc.subscribe(subject, {
              callback: (error, msg) => {
                if (error === null) msg.respond(JSON.stringify(answer()))
              }
            })
          )
        }
      }
      const json = natsHeaders()
      json.set(CONTENT_TYPE_HEADER, JSON_CONTENT_TYPE)
      const describe = s.describe(identity.model)
      subscriptions.push(
        nc.subscribe(describe, {
          queue: describe,
          callback: (error, msg) => {
            if (error === null) msg.respond(JSON.stringify(modelMetadata(identity, serving, stats)), { headers: json })
          }
        })
      )
      return subscriptions
    }),
    (subscriptions) => Effect.promise(() => Promise.all(subscriptions.map((sub) => sub.drain().catch(() => undefined))))
  )
