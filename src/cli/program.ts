// The `modelbus` command tree, run as this process (see run.ts for exit codes and signals); every
// command takes -s/--server and the credential flags like the `nats` CLI.
import * as Command from "effect/cli/Command"
import { batchCommand } from "./batchCommands.js"
import { canaryCommand } from "./canaryCommands.js"
import {
  eventsCommand,
  inferCommand,
  restartCommand,
  scaleCommand,
  statusCommand,
  superviseCommand,
  upCommand,
  updateCommand
} from "./commands.js"
import { modelsCommand } from "./modelsCommands.js"
import { runCli } from "./run.js"

export const modelbus = Command.make("modelbus").pipe(
  Command.withDescription("Serve TensorFlow.js models as supervised actors on NATS."),
  Command.withSubcommands([
    upCommand,
    superviseCommand,
    inferCommand,
    statusCommand,
    restartCommand,
    scaleCommand,
    eventsCommand,
    updateCommand,
    canaryCommand,
    modelsCommand,
    batchCommand
  ])
)

runCli(modelbus, "0.1.0")
