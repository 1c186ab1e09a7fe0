// How a request ends, in one place: its reply is sent (outputs, or a typed error), then the actor's
// counters, last error, outcome metric and processing time record it. Refusals and batches both end here.
import type { Msg } from "@nats-io/transport-node"
import type { Encoding } from "../protocol/codec.js"
import type { ServiceError } from "../protocol/errors.js"
import type { InferReply } from "../protocol/messages.js"
import { type Measurements, outcomeOf } from "./measurements.js"
import { replyError, replyOk } from "./replies.js"
import type { ActorStats } from "./stats.js"

/** What ending a request needs of it. */
export interface Request {
  readonly msg: Msg
  readonly encoding: Encoding
  /** performance.now() when the message arrived: processing time runs from here. */
  readonly arrived: number
}

/** What a request is answered with: its outputs, or a typed error. */
export type Answer = InferReply | ServiceError

/** Where requests that end are counted. */
export interface FinishContext {
  readonly stats: ActorStats
  /** Outcome counts, when metrics are on. */
  readonly measure?: Measurements | undefined
}

/** A typed error (tagged); a reply is not. */
export const isError = (answer: Answer): answer is ServiceError => "_tag" in answer

/**
 * Sends `request` its answer and records it. Throws only when the reply cannot be sent (nothing is
 * recorded then): the caller decides what that request gets instead.
 */
export const finish = (ctx: FinishContext, request: Request, answer: Answer): void => {
  const { stats, measure } = ctx
  if (isError(answer)) {
    replyError(request.msg, request.encoding, answer)
    stats.errors++
    stats.lastError = answer
    if (measure !== undefined) measure.outcomes[outcomeOf[answer._tag]]++
  } else {
    replyOk(request.msg, request.encoding, answer)
    stats.served++
    if (measure !== undefined) measure.outcomes.ok++
  }
  stats.processingMs += performance.now() - request.arrived
}
