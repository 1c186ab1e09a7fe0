// `modelbus infer MODEL --input JSON | --file F`: reads the inputs (or a whole request body),
// calls the model once and prints the reply as one JSON line (always JSON: --json changes nothing).
import { readFile } from "node:fs/promises"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import type { NatsAuth } from "../protocol/auth.js"
import { encodeReply } from "../protocol/codec.js"
import { BadInput } from "../protocol/errors.js"
import { isRecord, messageOf } from "../protocol/values.js"
import { withClient } from "./client.js"

export class InputMissing extends Schema.TaggedError<InputMissing>()("InputMissing", {
  message: Schema.String
}) {}

const readInputText = (input: string | undefined, file: string | undefined) => {
  if (input !== undefined) return Effect.succeed(input)
  if (file !== undefined) {
    return Effect.tryPromise({
      try: () => readFile(file, "utf8"),
      catch: (cause) => new InputMissing({ message: `cannot read ${file}: ${messageOf(cause)}` })
    })
  }
  return Effect.fail(new InputMissing({ message: "give the inputs with --input JSON or --file FILE" }))
}

export const infer = Effect.fnUntraced(function* (options: {
  readonly model: string
  readonly input: string | undefined
  readonly file: string | undefined
  readonly server: string | undefined
  readonly prefix: string | undefined
  readonly auth?: NatsAuth
  readonly timeoutMs: number
  readonly attempts: number
}) {
  const text = yield* readInputText(options.input, options.file)
  const parsed = yield* Effect.try({
    try: () => JSON.parse(text) as unknown,
    catch: (cause) => new BadInput({ message: `--input is not valid JSON: ${messageOf(cause)}` })
  })
  const isBody = isRecord(parsed) && "inputs" in parsed
  const body = isBody ? (parsed as { inputs: never; outputs?: Array<string> }) : { inputs: parsed as never }
  const reply = yield* withClient(
    options,
    (client) => client.infer(options.model, body.inputs, body.outputs === undefined ? {} : { outputs: body.outputs }),
    { timeoutMs: options.timeoutMs, retry: { attempts: options.attempts } }
  )
  yield* Console.log(new TextDecoder().decode(encodeReply(reply, "json")))
})
