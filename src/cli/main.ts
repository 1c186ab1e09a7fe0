#!/usr/bin/env node
// The `modelbus` command: up, supervise, infer and status, built with effect/cli; every command
// takes -s/--server and the credential flags like the `nats` CLI and fails with one line naming the typed error.
import { NodeServices } from "@effect/platform-node"
import { Effect, Option } from "effect"
import { Argument, Command, Flag } from "effect/cli"
import { runProcess } from "../lifecycle/runProcess.js"
import { events, restart, scale } from "./control.js"
import { authFromFlags, connectionFlags, connectionOf } from "./flags.js"
import { infer } from "./infer.js"
import { describeModel, history, list, push, rollback, update } from "./models.js"
import { supervise, up } from "./serve.js"
import { status } from "./status.js"

const { prefix: _prefix, ...connectionServeFlags } = connectionFlags
const serveFlags = {
  ...connectionServeFlags,
  metricsPort: Flag.Int("metrics-port").pipe(
    Flag.withDescription(
      "Serve /metrics (Prometheus), /healthz and /readyz on this HTTP port (0: a free one); default $MODELBUS_METRICS_PORT, else the config's metrics.port, else none"
    ),
    Flag.optional
  )
}
const opt = <A>(o: Option.Option<A>): A | undefined => Option.getOrUndefined(o)

const upCommand = Command.make(
  "up",
  {
    ...serveFlags,
    config: Flag.File("config").pipe(
      Flag.withAlias("c"),
      Flag.withDescription("Config file to serve (default: the bundled Iris example)"),
      Flag.optional
    )
  },
  (o) => up(opt(o.config), opt(o.server), authFromFlags({ ...o, prefix: Option.none() }), opt(o.metricsPort))
).pipe(
  Command.withDescription(
    "Serve the bundled example (or --config) on the NATS at --server/$NATS_URL; when nothing answers on the default address, start a local nats-server with JetStream and stop it on exit."
  ),
  Command.withExamples([{ command: "modelbus up", description: "Serve the Iris example with 2 replicas" }])
)

const superviseCommand = Command.make(
  "supervise",
  {
    ...serveFlags,
    config: Flag.File("config").pipe(Flag.withAlias("c"), Flag.withDescription("Config file (JSON or YAML)"))
  },
  (o) => supervise(o.config, opt(o.server), authFromFlags({ ...o, prefix: Option.none() }), opt(o.metricsPort))
).pipe(
  Command.withDescription(
    "Run a supervisor: fork the configured actor processes, restart them by OTP rules, answer status. SIGTERM/SIGINT drain every actor and exit 0; restart intensity exceeded exits 1."
  ),
  Command.withExamples([
    {
      command: "modelbus supervise --config examples/iris/modelbus.yaml",
      description: "Serve the models of a config file"
    }
  ])
)

const inferCommand = Command.make(
  "infer",
  {
    ...connectionFlags,
    model: Argument.String("model").pipe(Argument.withDescription("Model name")),
    input: Flag.String("input").pipe(
      Flag.withAlias("i"),
      Flag.withDescription(
        'Inputs as JSON: nested arrays, a tensor {dtype,shape,data}, a map of them by input name, or a whole body {"inputs":…,"outputs":[…]}'
      ),
      Flag.optional
    ),
    file: Flag.File("file").pipe(
      Flag.withAlias("f"),
      Flag.withDescription("Read the --input JSON from a file"),
      Flag.optional
    ),
    timeout: Flag.Int("timeout").pipe(
      Flag.withDescription("Timeout of each attempt in milliseconds"),
      Flag.withDefault(5_000)
    ),
    attempts: Flag.Int("attempts").pipe(
      Flag.withDescription("Attempts on Timeout, NoResponders or Overloaded"),
      Flag.withDefault(3)
    )
  },
  (o) =>
    infer({
      model: o.model,
      input: opt(o.input),
      file: opt(o.file),
      ...connectionOf(o),
      timeoutMs: o.timeout,
      attempts: o.attempts
    })
).pipe(
  Command.withDescription("Call a model once and print its reply as JSON."),
  Command.withExamples([
    { command: "modelbus infer iris --input '[[5.1,3.5,1.4,0.2]]'", description: "Classify one Iris flower" }
  ])
)

const statusCommand = Command.make(
  "status",
  {
    ...connectionFlags,
    json: Flag.Boolean("json").pipe(Flag.withDescription('Print {"actors": [...]} as JSON'), Flag.withDefault(false))
  },
  (o) => status({ json: o.json, ...connectionOf(o) })
).pipe(Command.withDescription("Show every actor of every supervisor on the bus."))

const controlTimeout = Flag.Int("timeout").pipe(
  Flag.withDescription("How long to wait for the supervisors, in milliseconds"),
  Flag.withDefault(60_000)
)

const restartCommand = Command.make(
  "restart",
  {
    ...connectionFlags,
    target: Argument.String("target").pipe(
      Argument.withDescription("A model name, an actor id (iris-2@k3j9x2) or a slot (iris-2)")
    ),
    timeout: controlTimeout
  },
  (o) => restart(connectionOf(o), o.target, o.timeout)
).pipe(
  Command.withDescription(
    "Replace a model's replicas (or one actor) with fresh processes, each serving before the old one drains: no gap."
  ),
  Command.withExamples([{ command: "modelbus restart iris", description: "Rolling restart of every iris replica" }])
)

const scaleCommand = Command.make(
  "scale",
  {
    ...connectionFlags,
    model: Argument.String("model").pipe(Argument.withDescription("Model name")),
    replicas: Argument.Int("replicas").pipe(Argument.withDescription("Replicas per supervisor")),
    supervisor: Flag.String("supervisor").pipe(
      Flag.withDescription("Only this supervisor (id from `modelbus status`)"),
      Flag.optional
    ),
    timeout: controlTimeout
  },
  (o) => scale(connectionOf(o), o.model, o.replicas, opt(o.supervisor), o.timeout)
).pipe(
  Command.withDescription("Set a model's replica count on every supervisor running it; removed replicas drain first."),
  Command.withExamples([{ command: "modelbus scale iris 4", description: "Four iris replicas per supervisor" }])
)

const eventsCommand = Command.make(
  "events",
  {
    ...connectionFlags,
    model: Argument.String("model").pipe(
      Argument.withDescription("Model name (default: every model)"),
      Argument.optional
    ),
    json: Flag.Boolean("json").pipe(Flag.withDescription("Print each event as JSON"), Flag.withDefault(false))
  },
  (o) => events(connectionOf(o), opt(o.model), o.json)
).pipe(
  Command.withDescription(
    "Follow lifecycle events (started, exited, restarted, escalated, recycled, scaled) until Ctrl-C."
  )
)

const conn = connectionOf
const modelArg = Argument.String("model").pipe(Argument.withDescription("Model name"))
const force = Flag.Boolean("force").pipe(
  Flag.withDescription("Accept a signature that differs from the serving version's"),
  Flag.withDefault(false)
)
const rolloutTimeout = Flag.Int("timeout").pipe(
  Flag.withDescription("How long to wait for every replica, in milliseconds"),
  Flag.withDefault(30_000)
)

const updateCommand = Command.make(
  "update",
  {
    ...connectionFlags,
    model: modelArg,
    path: Flag.Directory("path").pipe(
      Flag.withDescription("Folder with the new model.json and weights"),
      Flag.optional
    ),
    fit: Flag.File("fit").pipe(
      Flag.withDescription("JSON file {x, y, epochs?, batchSize?}: one replica trains a copy (Layers models)"),
      Flag.optional
    ),
    force,
    timeout: rolloutTimeout
  },
  (o) => update(conn(o), o.model, opt(o.path), opt(o.fit), o.force, o.timeout)
).pipe(
  Command.withDescription(
    "Publish a new version of a model (artifacts, or trained by a replica) and wait until every replica serves it, with no failed request. Needs JetStream."
  ),
  Command.withExamples([{ command: "modelbus update iris --path ./retrained", description: "Roll out new artifacts" }])
)

const modelsCommand = Command.make("models").pipe(
  Command.withDescription(
    "The model registry on JetStream: versions, history, rollback, push; describe a serving model."
  ),
  Command.withSubcommands([
    Command.make("list", connectionFlags, (o) => list(conn(o))).pipe(
      Command.withDescription("Each model's current version.")
    ),
    Command.make("history", { ...connectionFlags, model: modelArg }, (o) => history(conn(o), o.model)).pipe(
      Command.withDescription("Every kept version of a model.")
    ),
    Command.make(
      "rollback",
      {
        ...connectionFlags,
        model: modelArg,
        to: Flag.Int("to").pipe(
          Flag.withDescription("Version to return to (default: the one before current)"),
          Flag.optional
        ),
        timeout: rolloutTimeout
      },
      (o) => rollback(conn(o), o.model, opt(o.to), o.timeout)
    ).pipe(
      Command.withDescription(
        "Publish a new version that serves an earlier version's artifacts, and wait for the replicas."
      )
    ),
    Command.make(
      "push",
      {
        ...connectionFlags,
        model: modelArg,
        path: Flag.Directory("path").pipe(Flag.withDescription("Folder with model.json and weights")),
        force
      },
      (o) => push(conn(o), o.model, o.path, o.force)
    ).pipe(Command.withDescription("Upload a folder as the model's next version without waiting for the replicas.")),
    Command.make(
      "describe",
      {
        ...connectionFlags,
        model: modelArg,
        json: Flag.Boolean("json").pipe(Flag.withDescription("Print the metadata as JSON"), Flag.withDefault(false))
      },
      (o) => describeModel(conn(o), o.model, o.json)
    ).pipe(
      Command.withDescription(
        "A serving model's inputs and outputs (names, dtypes, shapes), version, format and backend, as one replica answers."
      )
    )
  ])
)

const modelbus = Command.make("modelbus").pipe(
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
    modelsCommand
  ])
)

runProcess(Command.run(modelbus, { version: "0.1.0" }).pipe(Effect.provide(NodeServices.layer)))
