// How a request ends, in one place: its reply is sent (outputs, or a typed error), then the actor's
// counters, last error, outcome metric, processing time and a running canary's figures record it.
import type { Msg } from "@nats-io/transport-node"
import type { Encoding } from "../protocol/codec.js"
import type { ServiceError } from "../protocol/errors.js"
import type { InferReply } from "../protocol/messages.js"
import type { HostTensor } from "../protocol/tensor.js"
import { canaryAnswered, canaryFailed } from "./canary/live.js"
import { type Measurements, outcomeOf } from "./measurements.js"
import { replyError, replyOk } from "./replies.js"
import type { ServingModel, ServingVersion } from "./servingModel.js"
import type { ActorStats } from "./stats.js"

/** What ending a request needs of it. */
export interface Request {
  readonly msg: Msg
  readonly encoding: Encoding
  /** performance.now() when the message arrived: processing time runs from here. */
  readonly arrived: number
}

/** A request that passed its checks and holds the version it runs on (a job): a canary counts it for that version. */
export interface CheckedRequest extends Request {
  readonly inputs: Readonly<Record<string, HostTensor>>
  readonly outputs: ReadonlyArray<string> | undefined
  readonly version: ServingVersion
}

/** What a request is answered with: its outputs, or a typed error. */
export type Answer = InferReply | ServiceError

/** Where requests that end are counted. */
export interface FinishContext {
  readonly stats: ActorStats
  /** Outcome counts, when metrics are on. */
  readonly measure?: Measurements | undefined
  /** Read for the canary running now, if any. */
  readonly serving: Pick<ServingModel, "canary">
}

/** A typed error (tagged); a reply is not. */
export const isError = (answer: Answer): answer is ServiceError => "_tag" in answer

/** The version a checked request holds; none for a request refused before one was chosen. */
const versionOf = (request: Request | CheckedRequest): ServingVersion | undefined =>
  (request as Partial<CheckedRequest>).version

/**
 * Sends `request` its answer and records it; `computed` are the outputs an answer of a checked request
 * was made from (a running canary's shadow compares them). Throws only when the reply cannot be sent
 * (nothing is recorded then): the caller decides what that request gets instead. A refusal (a request
 * that holds no version) is never counted for a canary; without a canary, that costs one field check.
 */
export const finish = (
  ctx: FinishContext,
  request: Request | CheckedRequest,
  answer: Answer,
  computed?: Readonly<Record<string, HostTensor>>
): void => {
  const { stats, measure } = ctx
  if (isError(answer)) {
    replyError(request.msg, request.encoding, answer)
    stats.errors++
    stats.lastError = answer
    if (measure !== undefined) {
      const outcome = outcomeOf[answer._tag]
      measure.outcomes[outcome]++
      if (versionOf(request)?.candidate === true) measure.candidate.outcomes[outcome]++
    }
  } else {
    replyOk(request.msg, request.encoding, answer)
    stats.served++
    if (measure !== undefined) {
      measure.outcomes.ok++
      if (versionOf(request)?.candidate === true) measure.candidate.outcomes.ok++
    }
  }
  const ms = performance.now() - request.arrived
  stats.processingMs += ms
  const canary = ctx.serving.canary
  if (canary === undefined) return
  const version = versionOf(request)
  if (version === undefined) return
  // neither throws: the reply is sent, and this request must not be answered twice
  if (isError(answer)) canaryFailed(canary, version, ms, answer._tag === "InferenceFailed")
  else if (computed !== undefined) canaryAnswered(canary, request as CheckedRequest, version, computed, ms)
}
