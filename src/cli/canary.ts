// `modelbus canary MODEL …` and `canary promote|abort|status MODEL`: the client's canary operations,
// upload progress on stderr, the result on stdout as one line (or a table) or as JSON (--json).
import * as Effect from "effect/Effect"
import type { CanarySource } from "../client/canary.js"
import { BadInput } from "../protocol/errors.js"
import { abortedLine, parseGuard, promotedLine, renderReport, startedLine } from "./canaryText.js"
import { type Connection, withClient } from "./client.js"
import { printResult } from "./output.js"
import { uploadProgress } from "./progress.js"

export interface StartFlags {
  readonly path: string | undefined
  readonly version: number | undefined
  readonly percent: number
  readonly shadow: number
  readonly stickyKey: string | undefined
  readonly guard: string | undefined
  readonly timeoutMs: number
  readonly json: boolean
}

export const start = (c: Connection, model: string, flags: StartFlags) =>
  Effect.gen(function* () {
    if ((flags.path === undefined) === (flags.version === undefined))
      return yield* new BadInput({ message: "give exactly one of --path DIR or --version N" })
    const source: CanarySource = flags.path !== undefined ? { path: flags.path } : { version: flags.version! }
    const guard = flags.guard === undefined ? undefined : parseGuard(flags.guard)
    if (typeof guard === "string") return yield* new BadInput({ message: guard })
    const result = yield* withClient(c, (client) =>
      client.startCanary(model, source, {
        percent: flags.percent,
        shadow: flags.shadow,
        timeoutMs: flags.timeoutMs,
        onProgress: uploadProgress(process.stderr.isTTY === true, (text) => void process.stderr.write(text)),
        ...(flags.stickyKey === undefined ? {} : { stickyKey: flags.stickyKey }),
        ...(guard === undefined ? {} : { guard })
      })
    )
    yield* printResult(flags.json, result, startedLine)
  })

export const promote = (c: Connection, model: string, timeoutMs: number, json: boolean) =>
  withClient(c, (client) => client.promoteCanary(model, { timeoutMs })).pipe(
    Effect.flatMap((r) => printResult(json, r, promotedLine))
  )

export const abort = (c: Connection, model: string, timeoutMs: number, json: boolean) =>
  withClient(c, (client) => client.abortCanary(model, { timeoutMs })).pipe(
    Effect.flatMap((r) => printResult(json, r, abortedLine))
  )

export const status = (c: Connection, model: string, json: boolean) =>
  withClient(c, (client) => client.canaryStatus(model)).pipe(Effect.flatMap((r) => printResult(json, r, renderReport)))
