// Scatter-gather on NATS: one request, every answer until the strategy ends it; "no responders"
// means nobody is there to answer, which is an empty result rather than a failure.
import {
  type Msg,
  type NatsConnection,
  NoRespondersError,
  RequestError,
  type RequestManyOptions
} from "@nats-io/transport-node"

const isNoResponders = (error: unknown) =>
  error instanceof NoRespondersError ||
  (error instanceof RequestError && error.isNoResponders()) ||
  /no responders/i.test(String(error))

/** Every reply to one request; an empty list when nobody is subscribed. */
export const gather = async (
  nc: NatsConnection,
  subject: string,
  body: Uint8Array,
  options: Partial<RequestManyOptions>
): Promise<Array<Msg>> => {
  const answers: Array<Msg> = []
  try {
    for await (const msg of await nc.requestMany(subject, body, options)) {
      if (msg.headers?.hasError === true && msg.data.byteLength === 0) continue
      answers.push(msg)
    }
  } catch (error) {
    if (!isNoResponders(error)) throw error
  }
  return answers
}
