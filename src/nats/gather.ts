// Scatter-gather on NATS: one request, every answer until the plan ends it; "no responders"
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

/**
 * How a gather ends: nats.js's own strategies, or `announced`: once `count` answers are in, it keeps
 * taking answers until `quietMs` pass without one (or `maxWait` is up), so an answer from someone
 * not counted on (a supervisor whose membership entry lapsed while JetStream elected leaders) is
 * taken too, for a short wait rather than a quiet gap after every call.
 */
export type GatherPlan =
  | Partial<RequestManyOptions>
  | {
      readonly strategy: "announced"
      readonly count: number
      readonly quietMs: number
      readonly maxWait: number
      readonly headers?: RequestManyOptions["headers"]
    }

/** Ends a requestMany's iterator (nats.js's QueuedIterator: its `stop` cancels the request; the type says only AsyncIterable). */
const stopOf = (replies: AsyncIterable<Msg>): (() => void) => {
  const stop = (replies as { stop?: unknown }).stop
  if (typeof stop !== "function") throw new Error("nats.js requestMany returned an iterator without stop()")
  return () => stop.call(replies)
}

/** Every reply to one request; an empty list when nobody is subscribed. */
export const gather = async (
  nc: NatsConnection,
  subject: string,
  body: Uint8Array,
  plan: GatherPlan
): Promise<Array<Msg>> => {
  const announced = plan.strategy === "announced" ? plan : undefined
  const options: Partial<RequestManyOptions> =
    announced === undefined
      ? (plan as Partial<RequestManyOptions>)
      : { strategy: "timer", maxWait: announced.maxWait, ...(announced.headers ? { headers: announced.headers } : {}) }
  const answers: Array<Msg> = []
  let quiet: ReturnType<typeof setTimeout> | undefined
  try {
    const replies = await nc.requestMany(subject, body, options)
    const stop = announced === undefined ? undefined : stopOf(replies)
    for await (const msg of replies) {
      if (msg.headers?.hasError === true && msg.data.byteLength === 0) continue
      answers.push(msg)
      if (announced === undefined || stop === undefined || answers.length < announced.count) continue
      // stopping the iterator ends the loop and cancels the request
      clearTimeout(quiet)
      quiet = setTimeout(stop, announced.quietMs)
    }
  } catch (error) {
    if (!isNoResponders(error)) throw error
  } finally {
    clearTimeout(quiet)
  }
  return answers
}
