// The per-message path of a model actor: decode → check against the signature → run → encode,
// with every failure answered as a typed error reply and counted; never throws.
import { headers as natsHeaders, type Msg, type MsgHdrs } from "@nats-io/transport-node"
import { checkInputs, checkOutputs } from "../model/signature.js"
import { CONTENT_TYPE_HEADER, decodeRequest, type Encoding, encodeError, encodeReply, encodingOf, JSON_CONTENT_TYPE } from "../protocol/codec.js"
import { BadInput, ERROR_CODE_HEADER, ERROR_HEADER, errorCodes, InferenceFailed, PayloadTooLarge, type ServiceError } from "../protocol/errors.js"
import type { InferRequest, ReplyOutputs } from "../protocol/messages.js"
import { acquire, release, type ServingModel, type ServingVersion } from "./servingModel.js"

export interface ActorStats {
  served: number
  errors: number
  inflight: number
}

export interface PipelineContext {
  readonly actorId: string
  readonly modelName: string
  readonly serving: ServingModel
  readonly maxPayloadBytes: number
  readonly stats: ActorStats
}

const replyHeaders = (encoding: Encoding, error?: ServiceError): MsgHdrs | undefined => {
  if (error === undefined && encoding !== "json") return undefined
  const h = natsHeaders()
  if (encoding === "json") h.set(CONTENT_TYPE_HEADER, JSON_CONTENT_TYPE)
  if (error !== undefined) {
    h.set(ERROR_CODE_HEADER, String(errorCodes[error._tag]))
    h.set(ERROR_HEADER, error.message.replace(/[\r\n]+/g, " "))
  }
  return h
}

const respondError = (ctx: PipelineContext, msg: Msg, encoding: Encoding, error: ServiceError) => {
  ctx.stats.errors++
  const headers = replyHeaders(encoding, error)
  msg.respond(encodeError(error, encoding), headers === undefined ? undefined : { headers })
}

/** Answers one infer message. Resolves once the reply is sent; never rejects. */
export const answerInfer = async (ctx: PipelineContext, msg: Msg): Promise<void> => {
  const encoding = encodingOf(msg.headers?.get(CONTENT_TYPE_HEADER) || undefined)
  if (msg.reply === undefined || msg.reply === "") return
  if (msg.data.byteLength > ctx.maxPayloadBytes) {
    return respondError(ctx, msg, encoding, new PayloadTooLarge({
      message: `request body is ${msg.data.byteLength} bytes; this actor accepts at most ${ctx.maxPayloadBytes}`,
      limit: ctx.maxPayloadBytes,
      size: msg.data.byteLength
    }))
  }
  const request = decodeRequest(msg.data, encoding)
  if (request instanceof BadInput) return respondError(ctx, msg, encoding, request)
  const serving = acquire(ctx.serving)
  try {
    await run(ctx, msg, encoding, request, serving)
  } finally {
    release(serving)
  }
}

const run = async (ctx: PipelineContext, msg: Msg, encoding: Encoding, request: InferRequest, serving: ServingVersion): Promise<void> => {
  const { signature } = serving.model
  const inputs = checkInputs(signature, request)
  if (inputs instanceof BadInput) return respondError(ctx, msg, encoding, inputs)
  const unknownOutput = checkOutputs(signature, request.outputs)
  if (unknownOutput !== undefined) return respondError(ctx, msg, encoding, unknownOutput)

  ctx.stats.inflight++
  let outputs: ReplyOutputs
  try {
    const computed = await serving.model.predict(inputs, request.outputs)
    const only = signature.outputs[0]
    outputs = request.outputs === undefined && signature.outputs.length === 1 && only !== undefined ? computed[only.name]! : computed
  } catch (cause) {
    return respondError(ctx, msg, encoding, new InferenceFailed({
      message: `model "${ctx.modelName}" failed while computing: ${cause instanceof Error ? cause.message : String(cause)}`
    }))
  } finally {
    ctx.stats.inflight--
  }
  ctx.stats.served++
  const headers = replyHeaders(encoding)
  const body = encodeReply({ outputs, model: ctx.modelName, version: serving.version, actor: ctx.actorId }, encoding)
  msg.respond(body, headers === undefined ? undefined : { headers })
}
