// The `modelbus` commands that run and operate a deployment (up, supervise, infer, status, restart,
// scale, events, update): flags, descriptions with their defaults, and handlers loaded when they run.
import * as Argument from "effect/cli/Argument"
import * as Command from "effect/cli/Command"
import * as Flag from "effect/cli/Flag"
import * as Option from "effect/Option"
import { authFromFlags, connectionFlags, connectionOf, intFlag, jsonFlag } from "./flags.js"
import { lazily } from "./lazy.js"

const opt = <A>(o: Option.Option<A>): A | undefined => Option.getOrUndefined(o)

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

const serve = () => import("./serve.js")

export const upCommand = Command.make(
  "up",
  {
    ...serveFlags,
    config: Flag.File("config").pipe(
      Flag.withAlias("c"),
      Flag.withDescription("Config file to serve (default: the bundled Iris example)"),
      Flag.optional
    )
  },
  (o) =>
    lazily(serve, (m) =>
      m.up(opt(o.config), opt(o.server), authFromFlags({ ...o, prefix: Option.none() }), opt(o.metricsPort))
    )
).pipe(
  Command.withDescription(
    "Serve the bundled example (or --config) on the NATS at --server, else $NATS_URL, else the config's nats.servers, else nats://127.0.0.1:4222; when none is given and nothing answers there, start a local nats-server with JetStream on 4222 (or on a free port, printing the NATS_URL to export) and stop it on exit."
  ),
  Command.withExamples([{ command: "modelbus up", description: "Serve the Iris example with 2 replicas" }])
)

export const superviseCommand = Command.make(
  "supervise",
  {
    ...serveFlags,
    config: Flag.File("config").pipe(Flag.withAlias("c"), Flag.withDescription("Config file (JSON or YAML)"))
  },
  (o) =>
    lazily(serve, (m) =>
      m.supervise(o.config, opt(o.server), authFromFlags({ ...o, prefix: Option.none() }), opt(o.metricsPort))
    )
).pipe(
  Command.withDescription(
    "Run a supervisor: fork the configured actor processes, restart them by OTP rules, answer status. A model with `autoscale: { min, max, targetInflight, upscaleDelayMs, downscaleDelayMs, lookbackMs }` gets the replicas its load needs (min 0: down to none, woken by its next request; defaults in docs/autoscaling.md), within `supervisor.maxActors` (default: the host's cores). SIGTERM/SIGINT drain every actor and exit 0; restart intensity exceeded exits 1."
  ),
  Command.withExamples([
    {
      command: "modelbus supervise --config examples/iris/modelbus.yaml",
      description: "Serve the models of a config file"
    },
    {
      command: "modelbus supervise --config autoscaled.yaml",
      description: "Models with `autoscale: { min: 0, max: 4 }`: replicas follow load, none while idle"
    }
  ])
)

export const inferCommand = Command.make(
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
    timeout: intFlag("timeout", 5_000, "Timeout of each attempt in milliseconds"),
    attempts: intFlag("attempts", 3, "Attempts on Timeout, NoResponders or Overloaded"),
    json: Flag.Boolean("json").pipe(
      Flag.withDescription("The reply is printed as JSON with or without it (accepted like every command's --json)"),
      Flag.withDefault(false)
    )
  },
  (o) =>
    lazily(
      () => import("./infer.js"),
      (m) =>
        m.infer({
          model: o.model,
          input: opt(o.input),
          file: opt(o.file),
          ...connectionOf(o),
          timeoutMs: o.timeout,
          attempts: o.attempts
        })
    )
).pipe(
  Command.withDescription("Call a model once and print its reply as JSON."),
  Command.withExamples([
    { command: "modelbus infer iris --input '[[5.1,3.5,1.4,0.2]]'", description: "Classify one Iris flower" }
  ])
)

export const statusCommand = Command.make(
  "status",
  { ...connectionFlags, json: jsonFlag('{"actors": [...]}, every actor naming its supervisor,') },
  (o) =>
    lazily(
      () => import("./status.js"),
      (m) => m.status({ json: o.json, ...connectionOf(o) })
    )
).pipe(
  Command.withDescription(
    "Show every actor of every supervisor on the bus; exits 1 (NotFound) when no supervisor answers."
  )
)

const control = () => import("./operate.js")
const controlTimeout = intFlag("timeout", 60_000, "How long to wait for the supervisors, in milliseconds")

export const restartCommand = Command.make(
  "restart",
  {
    ...connectionFlags,
    target: Argument.String("target").pipe(
      Argument.withDescription("A model name, an actor id (iris-2@k3j9x2) or a slot (iris-2)")
    ),
    timeout: controlTimeout,
    json: jsonFlag('{"target", "supervisors": [{"supervisor", "done": [actor ids]}]}')
  },
  (o) => lazily(control, (m) => m.restart(connectionOf(o), o.target, o.timeout, o.json))
).pipe(
  Command.withDescription(
    "Replace a model's replicas (or one actor) with fresh processes, each serving before the old one drains: no gap."
  ),
  Command.withExamples([{ command: "modelbus restart iris", description: "Rolling restart of every iris replica" }])
)

export const scaleCommand = Command.make(
  "scale",
  {
    ...connectionFlags,
    model: Argument.String("model").pipe(Argument.withDescription("Model name")),
    replicas: Argument.Int("replicas").pipe(Argument.withDescription("Replicas per supervisor")),
    supervisor: Flag.String("supervisor").pipe(
      Flag.withDescription("Only this supervisor (id from `modelbus status`)"),
      Flag.optional
    ),
    timeout: controlTimeout,
    json: jsonFlag('{"model", "replicas", "supervisors": [{"supervisor", "done": [actor ids]}]}')
  },
  (o) => lazily(control, (m) => m.scale(connectionOf(o), o.model, o.replicas, opt(o.supervisor), o.timeout, o.json))
).pipe(
  Command.withDescription(
    "Set a model's replica count on every supervisor running it; removed replicas drain first. Refused for a model with `autoscale` in its config: change its autoscale.min/max there."
  ),
  Command.withExamples([{ command: "modelbus scale iris 4", description: "Four iris replicas per supervisor" }])
)

export const eventsCommand = Command.make(
  "events",
  {
    ...connectionFlags,
    model: Argument.String("model").pipe(
      Argument.withDescription("Model name (default: every model)"),
      Argument.optional
    ),
    json: jsonFlag("each event (one JSON object per line)")
  },
  (o) => lazily(control, (m) => m.events(connectionOf(o), opt(o.model), o.json))
).pipe(
  Command.withDescription(
    "Follow lifecycle events (started, exited, restarted, escalated, recycled, scaled, canaryAborted) until Ctrl-C."
  )
)

/** How long a rollout waits for every replica. */
export const rolloutTimeout = intFlag("timeout", 30_000, "How long to wait for every replica, in milliseconds")

export const forceFlag = Flag.Boolean("force").pipe(
  Flag.withDescription("Accept a signature that differs from the serving version's"),
  Flag.withDefault(false)
)

export const modelArgument = Argument.String("model").pipe(Argument.withDescription("Model name"))

export const updateCommand = Command.make(
  "update",
  {
    ...connectionFlags,
    model: modelArgument,
    path: Flag.Directory("path").pipe(
      Flag.withDescription("Folder with the new model.json and weights (TF.js), or model.onnx (ONNX)"),
      Flag.optional
    ),
    fit: Flag.File("fit").pipe(
      Flag.withDescription(
        "JSON file {x, y, epochs?, batchSize?}: one replica trains a copy (TF.js Layers models), each epoch reported as it ends"
      ),
      Flag.optional
    ),
    force: forceFlag,
    timeout: rolloutTimeout,
    json: jsonFlag('the result {"model", "version", "acked", "pending", "rolloutMs", "loss"?}')
  },
  (o) =>
    lazily(
      () => import("./models.js"),
      (m) =>
        m.update(
          connectionOf(o),
          o.model,
          { path: opt(o.path), fit: opt(o.fit) },
          { force: o.force, timeoutMs: o.timeout, json: o.json }
        )
    )
).pipe(
  Command.withDescription(
    "Publish a new version of a model (artifacts, or trained by a replica) and wait until every replica serves it, with no failed request. Needs JetStream."
  ),
  Command.withExamples([{ command: "modelbus update iris --path ./retrained", description: "Roll out new artifacts" }])
)
