// The per-message path of a model actor: admission → decode → check against the signature →
// queue for (batched) execution; every failure is answered as a typed error reply, never thrown.
import type { Msg } from "@nats-io/transport-node"
import type { Tracer } from "effect"
import { checkInputs, checkOutputs } from "../model/signature.js"
import { decodeRequest, type Encoding, encodingOfMessage } from "../protocol/codec.js"
import { BadInput, Overloaded, PayloadTooLarge, type ServiceError } from "../protocol/errors.js"
import type { Batcher } from "./batcher.js"
import { drawOf } from "./canary/live.js"
import { type Measurements, outcomeOf } from "./measurements.js"
import { replyError } from "./replies.js"
import type { ServingModel } from "./servingModel.js"
import type { ActorStats } from "./stats.js"
import { traceOf } from "./tracing.js"

export type { ActorStats } from "./stats.js"

export interface PipelineContext {
  readonly actorId: string
  readonly modelName: string
  readonly serving: ServingModel
  readonly maxPayloadBytes: number
  /** Requests accepted but not answered at most; more are refused with Overloaded. */
  readonly maxInflight: number
  readonly stats: ActorStats
  readonly batcher: Batcher
  /** Where refusals are counted by outcome, when metrics are on. */
  readonly measure?: Measurements | undefined
  /** Set when traces are exported: a request's `traceparent` is then read. */
  readonly tracer?: Tracer.Tracer | undefined
}

const refuse = (
  ctx: PipelineContext,
  msg: Msg,
  encoding: Encoding,
  error: ServiceError,
  arrived: number
): undefined => {
  ctx.stats.errors++
  ctx.stats.lastError = error
  if (ctx.measure !== undefined) ctx.measure.outcomes[outcomeOf[error._tag]]++
  replyError(msg, encoding, error)
  ctx.stats.processingMs += performance.now() - arrived
  return undefined
}

/** Answers one infer message: refused at once, or queued to run (and counted in flight until answered). Never throws. */
export const answerInfer = (ctx: PipelineContext, msg: Msg): undefined => {
  const arrived = performance.now()
  if (!msg.reply) return
  const encoding = encodingOfMessage(msg)
  if (ctx.stats.inflight >= ctx.maxInflight) {
    return refuse(
      ctx,
      msg,
      encoding,
      new Overloaded({
        message: `${ctx.actorId} has ${ctx.stats.inflight} requests in flight (limit ${ctx.maxInflight})`
      }),
      arrived
    )
  }
  if (msg.data.byteLength > ctx.maxPayloadBytes) {
    return refuse(
      ctx,
      msg,
      encoding,
      new PayloadTooLarge({
        message: `request body is ${msg.data.byteLength} bytes; this actor accepts at most ${ctx.maxPayloadBytes}`,
        limit: ctx.maxPayloadBytes,
        size: msg.data.byteLength
      }),
      arrived
    )
  }
  const request = decodeRequest(msg.data, encoding)
  if (request instanceof BadInput) return refuse(ctx, msg, encoding, request, arrived)
  const { signature } = ctx.serving.current.model
  const inputs = checkInputs(signature, request)
  if (inputs instanceof BadInput) return refuse(ctx, msg, encoding, inputs, arrived)
  const unknownOutput = checkOutputs(signature, request.outputs)
  if (unknownOutput !== undefined) return refuse(ctx, msg, encoding, unknownOutput, arrived)
  const deadline = request.timeoutMs === undefined ? Number.POSITIVE_INFINITY : arrived + request.timeoutMs
  const trace = ctx.tracer === undefined ? undefined : traceOf(msg)
  const canary = ctx.serving.canary
  const draw = canary === undefined ? undefined : drawOf(canary, msg, inputs)
  ctx.batcher.submit({ msg, encoding, inputs, outputs: request.outputs, deadline, arrived, trace, draw })
}
