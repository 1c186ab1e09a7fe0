// The per-message path of a model actor: admission → decode → check against the serving signature → the
// version it runs on (a canary's draw, if one runs) → queue for (batched) execution; every refusal ends through `finish`.
import type { Msg } from "@nats-io/transport-node"
import type { Tracer } from "effect"
import { checkInputs, checkOutputs } from "../model/signature.js"
import { decodeRequest, type Encoding, encodingOfMessage } from "../protocol/codec.js"
import { BadInput, Overloaded, PayloadTooLarge, type ServiceError } from "../protocol/errors.js"
import type { Admission } from "./admission.js"
import { drawOf } from "./canary/live.js"
import { KEYLESS } from "./canary/split.js"
import { type FinishContext, finish } from "./finish.js"
import type { ModelLoop } from "./modelLoop.js"
import { acquire, type ServingModel } from "./servingModel.js"
import { traceOf } from "./tracing.js"

export type { ActorStats } from "./stats.js"

export interface PipelineContext extends FinishContext {
  readonly actorId: string
  readonly serving: ServingModel
  readonly maxPayloadBytes: number
  readonly admission: Pick<Admission, "admit" | "release" | "inflight" | "limit">
  readonly loop: Pick<ModelLoop, "submit">
  /** Set when traces are exported: a request's `traceparent` is then read. */
  readonly tracer?: Tracer.Tracer | undefined
}

/** Answers a request refused after admission (before a version was chosen): its place given back after the reply. */
const refuse = (
  ctx: PipelineContext,
  msg: Msg,
  encoding: Encoding,
  arrived: number,
  error: ServiceError
): undefined => {
  try {
    finish(ctx, { msg, encoding, arrived }, error)
  } finally {
    ctx.admission.release(1)
  }
  return undefined
}

/** Answers one infer message: refused at once, or queued to run (holding a place until answered). Throws only when a refusal cannot be sent. */
export const answerInfer = (ctx: PipelineContext, msg: Msg): undefined => {
  const arrived = performance.now()
  if (!msg.reply) return
  const encoding = encodingOfMessage(msg)
  const { admission } = ctx
  if (!admission.admit()) {
    const message = `${ctx.actorId} has ${admission.inflight()} requests in flight (limit ${admission.limit})`
    finish(ctx, { msg, encoding, arrived }, new Overloaded({ message }))
    return
  }
  if (msg.data.byteLength > ctx.maxPayloadBytes) {
    return refuse(
      ctx,
      msg,
      encoding,
      arrived,
      new PayloadTooLarge({
        message: `request body is ${msg.data.byteLength} bytes; this actor accepts at most ${ctx.maxPayloadBytes}`,
        limit: ctx.maxPayloadBytes,
        size: msg.data.byteLength
      })
    )
  }
  const request = decodeRequest(msg.data, encoding)
  if (request instanceof BadInput) return refuse(ctx, msg, encoding, arrived, request)
  // checked against the current version's signature, which a canary's candidate shares (checked as it
  // loads); the version is chosen right after, with nothing in between that could swap it
  const { signature } = ctx.serving.current.model
  const inputs = checkInputs(signature, request)
  if (inputs instanceof BadInput) return refuse(ctx, msg, encoding, arrived, inputs)
  const unknownOutput = checkOutputs(signature, request.outputs)
  if (unknownOutput !== undefined) return refuse(ctx, msg, encoding, arrived, unknownOutput)
  const canary = ctx.serving.canary
  const version = acquire(ctx.serving, canary === undefined ? KEYLESS : drawOf(canary, msg, inputs))
  const deadline = request.timeoutMs === undefined ? Number.POSITIVE_INFINITY : arrived + request.timeoutMs
  const trace = ctx.tracer === undefined ? undefined : traceOf(msg)
  ctx.loop.submit({ msg, encoding, arrived, inputs, outputs: request.outputs, deadline, version, trace })
}
