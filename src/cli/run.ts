// Running the `modelbus` command tree as the process: NodeRuntime.runMain (the first SIGTERM/SIGINT
// interrupts, scopes close, exit 0), a short usage message instead of the help dump, one line per failure.
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import * as NodeServices from "@effect/platform-node/NodeServices"
import * as Console from "effect/Console"
import * as CliOutput from "effect/cli/CliOutput"
import * as Command from "effect/cli/Command"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Runtime from "effect/Runtime"
import { processLogger } from "../lifecycle/runProcess.js"
import { exitCodeOf, failureLine, missingCommandProblem, usageText } from "./usage.js"

/** Help when asked for (stdout); for a wrong command line, its problems and "see --help" on stderr, not the help. */
const presenter: CliOutput.Presenter = {
  present: (event) =>
    Effect.gen(function* () {
      const formatter = yield* CliOutput.Formatter
      switch (event._tag) {
        case "Help":
          // "Implicit": a command that needs a subcommand got none (the run then fails with ShowHelp: exit 2)
          return yield* event.reason === "Requested"
            ? Console.log(formatter.formatHelpDoc(event.helpDoc))
            : Console.error(usageText(event.commandPath, [missingCommandProblem(event.helpDoc)]))
        case "InvalidInvocation":
          return yield* Console.error(
            usageText(
              event.commandPath,
              event.errors.map((e) => e.message)
            )
          )
        case "Version":
          return yield* Console.log(formatter.formatVersion(event.name, event.version))
      }
    })
}

/** Prints the failure's one line and exits with exitCodeOf's code. */
const teardown: Runtime.Teardown = (exit, onExit) => {
  const line = failureLine(exit)
  if (line !== undefined) process.stderr.write(`${line}\n`)
  onExit(exitCodeOf(exit))
}

/** A second SIGTERM/SIGINT while the first one's shutdown runs exits at once with 130. */
const exitOnSecondSignal = () => {
  let signals = 0
  const onSignal = () => {
    if (++signals > 1) process.exit(130)
  }
  process.on("SIGINT", onSignal)
  process.on("SIGTERM", onSignal)
}

/** Runs `command` on this process's arguments and exits: 0 done (or --help, or a signal), 1 failed, 2 usage error. */
export const runCli = <Name extends string, Input, ContextInput, E>(
  command: Command.Command<Name, Input, ContextInput, E, Command.Environment>,
  version: string
): void => {
  const program = Command.run(command, { version }).pipe(
    Effect.provide(Layer.mergeAll(NodeServices.layer, CliOutput.layerPresenter(presenter), processLogger))
  )
  NodeRuntime.runMain(program, { disableErrorReporting: true, teardown })
  exitOnSecondSignal()
}
