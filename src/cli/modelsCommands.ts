// `modelbus models list|history|rollback|push|describe`: the registry's versions of each model and a
// serving model's metadata; every one prints text or, with --json, one JSON document.
import * as Command from "effect/cli/Command"
import * as Flag from "effect/cli/Flag"
import * as Option from "effect/Option"
import { forceFlag, modelArgument, rolloutTimeout } from "./commands.js"
import { connectionFlags, connectionOf, jsonFlag } from "./flags.js"
import { lazily } from "./lazy.js"

const models = () => import("./models.js")

const listCommand = Command.make(
  "list",
  { ...connectionFlags, json: jsonFlag('{"models": [{"model", "current"}]}') },
  (o) => lazily(models, (m) => m.list(connectionOf(o), o.json))
).pipe(Command.withDescription("Each model's current version."))

const historyCommand = Command.make(
  "history",
  { ...connectionFlags, model: modelArgument, json: jsonFlag('{"model", "versions": [...]}') },
  (o) => lazily(models, (m) => m.history(connectionOf(o), o.model, o.json))
).pipe(Command.withDescription("Every kept version of a model, oldest first; exits 1 (NotFound) for an unknown model."))

const rollbackCommand = Command.make(
  "rollback",
  {
    ...connectionFlags,
    model: modelArgument,
    to: Flag.Int("to").pipe(
      Flag.withDescription("Version to return to (default: the one before current)"),
      Flag.optional
    ),
    timeout: rolloutTimeout,
    json: jsonFlag('the result {"model", "version", "acked", "pending", "rolloutMs"}')
  },
  (o) => lazily(models, (m) => m.rollback(connectionOf(o), o.model, Option.getOrUndefined(o.to), o.timeout, o.json))
).pipe(
  Command.withDescription(
    "Publish a new version that serves an earlier version's artifacts, and wait for the replicas; a version not kept is VersionNotFound."
  )
)

const pushCommand = Command.make(
  "push",
  {
    ...connectionFlags,
    model: modelArgument,
    path: Flag.Directory("path").pipe(
      Flag.withDescription("Folder with model.json and weights (TF.js), or model.onnx (ONNX)")
    ),
    force: forceFlag,
    json: jsonFlag('the new version {"model", "version", "digest", "format", "size", ...}')
  },
  (o) => lazily(models, (m) => m.push(connectionOf(o), o.model, o.path, o.force, o.json))
).pipe(Command.withDescription("Upload a folder as the model's next version without waiting for the replicas."))

const describeCommand = Command.make(
  "describe",
  { ...connectionFlags, model: modelArgument, json: jsonFlag("the metadata") },
  (o) => lazily(models, (m) => m.describeModel(connectionOf(o), o.model, o.json))
).pipe(
  Command.withDescription(
    "A serving model's inputs and outputs (names, dtypes, shapes), version, format and backend, as one replica answers."
  )
)

export const modelsCommand = Command.make("models").pipe(
  Command.withDescription(
    "The model registry on JetStream: versions, history, rollback, push; describe a serving model."
  ),
  Command.withSubcommands([listCommand, historyCommand, rollbackCommand, pushCommand, describeCommand])
)
