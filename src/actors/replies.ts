// Sending an actor's replies: a successful reply in the request's encoding, or a typed error with
// the NATS micro headers (`Nats-Service-Error-Code`, `Nats-Service-Error`) and the error body.
import { type Msg, type MsgHdrs, headers as natsHeaders } from "@nats-io/transport-node"
import { CONTENT_TYPE_HEADER, type Encoding, encodeError, encodeReply, JSON_CONTENT_TYPE } from "../protocol/codec.js"
import { ERROR_CODE_HEADER, ERROR_HEADER, errorCodes, type ServiceError } from "../protocol/errors.js"
import type { InferReply } from "../protocol/messages.js"

let jsonHeaders: MsgHdrs | undefined

/** An error message as a header value: one line, at most 1024 characters (the body has the whole message). */
const headerText = (message: string): string => {
  const line = message.replace(/[\r\n]+/g, " ")
  return line.length > 1024 ? `${line.slice(0, 1023)}…` : line
}

const headersFor = (encoding: Encoding, error?: ServiceError): MsgHdrs | undefined => {
  if (error === undefined) {
    if (encoding !== "json") return undefined
    if (jsonHeaders === undefined) {
      jsonHeaders = natsHeaders()
      jsonHeaders.set(CONTENT_TYPE_HEADER, JSON_CONTENT_TYPE)
    }
    return jsonHeaders
  }
  const h = natsHeaders()
  if (encoding === "json") h.set(CONTENT_TYPE_HEADER, JSON_CONTENT_TYPE)
  h.set(ERROR_CODE_HEADER, String(errorCodes[error._tag]))
  h.set(ERROR_HEADER, headerText(error.message))
  return h
}

export const replyOk = (msg: Msg, encoding: Encoding, reply: InferReply): void => {
  const headers = headersFor(encoding)
  msg.respond(encodeReply(reply, encoding), headers === undefined ? undefined : { headers })
}

export const replyError = (msg: Msg, encoding: Encoding, error: ServiceError): void => {
  msg.respond(encodeError(error, encoding), { headers: headersFor(encoding, error)! })
}
