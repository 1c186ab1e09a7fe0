// Runs an Effect as a process's main program: the first SIGTERM or SIGINT interrupts it, so its
// scopes close gracefully (exit 0); a failure prints one line naming the typed error, exit non-zero.
// Neither that line nor a log line ever shows a secret (protocol/auth's redact).
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Logger from "effect/Logger"
import { redact } from "../protocol/auth.js"

/** Log lines as logfmt, or JSON with MODELBUS_LOG_FORMAT=json: one structured line per event, secrets masked. */
export const processLogger = Logger.layer([
  Logger.withConsoleLog(
    Logger.map(process.env.MODELBUS_LOG_FORMAT === "json" ? Logger.formatJson : Logger.formatLogFmt, redact)
  )
])

/** Completes when this process's parent closes the IPC channel; never, if it has none. */
export const parentGone: Effect.Effect<void> = Effect.callback<void>((resume) => {
  if (process.send === undefined) return
  const onDisconnect = () => resume(Effect.void)
  process.once("disconnect", onDisconnect)
  return Effect.sync(() => process.removeListener("disconnect", onDisconnect))
})

/** The one-line message for a failed run: the typed error's tag and message, secrets masked. */
export const describeFailure = (cause: Cause.Cause<unknown>): string => {
  const error = Cause.squash(cause)
  if (error instanceof Error) {
    const tag = (error as { _tag?: unknown })._tag
    return redact(`${typeof tag === "string" ? tag : error.name}: ${error.message.split("\n").join(" ")}`)
  }
  return redact(String(error))
}

export interface RunProcessOptions {
  /** Write the failure's one line (`modelbus: Tag: message`) on stderr (default true). */
  readonly printFailure?: boolean
}

/**
 * Runs `program` and exits the process: 0 on success or after a signal, 1 on failure (with one
 * line on stderr). A second signal while shutting down exits at once with 130.
 */
export const runProcess = <E>(program: Effect.Effect<void, E>, options: RunProcessOptions = {}): void => {
  const fiber = Effect.runFork(Effect.provide(program, processLogger))
  let signals = 0
  const onSignal = () => {
    if (++signals === 1) fiber.interruptUnsafe(fiber.id)
    else process.exit(130)
  }
  process.on("SIGINT", onSignal)
  process.on("SIGTERM", onSignal)
  fiber.addObserver((exit) => {
    if (Exit.isSuccess(exit) || Cause.hasInterruptsOnly(exit.cause)) process.exit(0)
    if (options.printFailure !== false) process.stderr.write(`modelbus: ${describeFailure(exit.cause)}\n`)
    process.exit(1)
  })
}
