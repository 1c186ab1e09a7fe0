// What a run of `modelbus` ends with, decided apart from printing: the exit code scripts rely on (0 done,
// 1 a typed error, 2 a usage error) and the short text a wrong command line gets instead of the whole help.
import * as Cause from "effect/Cause"
import * as CliError from "effect/cli/CliError"
import type * as HelpDoc from "effect/cli/HelpDoc"
import * as Exit from "effect/Exit"
import { describeFailure } from "../lifecycle/runProcess.js"

export const ExitCode = { ok: 0, failed: 1, usage: 2 } as const
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode]

/** effect/cli fails a run with ShowHelp when the command line cannot run (its problems are already shown). */
const isUsageError = (error: unknown): boolean => CliError.isCliError(error) && error._tag === "ShowHelp"

/** 0 for success, --help and an interrupt (SIGTERM/SIGINT), 2 for a usage error, 1 for any other failure. */
export const exitCodeOf = (exit: Exit.Exit<unknown, unknown>): ExitCode => {
  if (Exit.isSuccess(exit) || Cause.hasInterruptsOnly(exit.cause)) return ExitCode.ok
  return isUsageError(Cause.squash(exit.cause)) ? ExitCode.usage : ExitCode.failed
}

/** The one stderr line of a failed run (`modelbus: Tag: message`, secrets masked); none when it did not fail or was a usage error. */
export const failureLine = (exit: Exit.Exit<unknown, unknown>): string | undefined =>
  exitCodeOf(exit) === ExitCode.failed && Exit.isFailure(exit) ? `modelbus: ${describeFailure(exit.cause)}` : undefined

/** Each problem prefixed with the command it is about, then where to read more. */
export const usageText = (commandPath: ReadonlyArray<string>, problems: ReadonlyArray<string>): string => {
  const command = commandPath.join(" ")
  return [...problems.map((p) => `${command}: ${p}`), `see \`${command} --help\``].join("\n")
}

/** A command that needs a subcommand was given none: name the ones it has. */
export const missingCommandProblem = (help: HelpDoc.HelpDoc): string => {
  const names = (help.subcommands ?? []).flatMap((group) => group.commands.map((c) => c.name))
  return names.length === 0 ? "a command is required" : `a command is required: ${names.join(", ")}`
}
