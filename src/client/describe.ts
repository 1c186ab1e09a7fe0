// Asking one replica what a model is: `<prefix>.describe.<model>` answered in JSON with its inputs and
// outputs (names, dtypes, shapes), version, format and backend; nobody serving the model is NotFound.
import { headers as natsHeaders } from "@nats-io/transport-node"
import * as Effect from "effect/Effect"
import { CONTENT_TYPE_HEADER, JSON_CONTENT_TYPE, parseBody } from "../protocol/codec.js"
import { BadReply, type ConnectionError, NotFound, type PermissionDenied, type Timeout } from "../protocol/errors.js"
import { ModelMetadata } from "../protocol/metadata.js"
import { decoderOf } from "../protocol/schemaIssues.js"
import { subjects } from "../protocol/subjects.js"
import type { Requester } from "./requester.js"

export interface DescribeOptions {
  /** How long to wait for a replica's answer, in ms (default: the client's attempt timeout). */
  readonly timeoutMs?: number
}

export type DescribeError = NotFound | Timeout | ConnectionError | BadReply | PermissionDenied

const decodeMetadata = decoderOf(ModelMetadata, "metadata")
const NO_BODY = new Uint8Array(0)

/** `describe(model)` over a client's requester; one attempt (NotFound is an answer, not a glitch). */
export const describeOn = (requester: Requester, prefix: string | undefined, defaultTimeoutMs: number) => {
  const s = subjects(prefix)
  const json = natsHeaders()
  json.set(CONTENT_TYPE_HEADER, JSON_CONTENT_TYPE)
  return (model: string, options?: DescribeOptions): Effect.Effect<ModelMetadata, DescribeError> => {
    const subject = s.describe(model)
    return requester.request(subject, NO_BODY, options?.timeoutMs ?? defaultTimeoutMs, json).pipe(
      Effect.catchTags({
        NoResponders: () =>
          Effect.fail(
            new NotFound({
              message: `no replica serves model "${model}" (nobody answers on ${subject})`,
              target: model
            })
          ),
        // an empty request cannot exceed the server's max_payload
        PayloadTooLarge: (e) => Effect.die(e)
      }),
      Effect.flatMap((msg) => {
        const parsed = parseBody(msg.data, "json")
        const decoded = parsed.ok ? decodeMetadata(parsed.value) : parsed
        return decoded.ok
          ? Effect.succeed(decoded.value)
          : Effect.fail(new BadReply({ message: `unexpected reply on ${subject}: ${decoded.reason}`, subject }))
      })
    )
  }
}
