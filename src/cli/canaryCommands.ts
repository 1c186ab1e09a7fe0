// `modelbus canary MODEL --path DIR | --version N --percent P [...]` and `canary promote|abort|status MODEL`:
// flags with their defaults in --help, handlers loaded when they run.
import * as Command from "effect/cli/Command"
import * as Flag from "effect/cli/Flag"
import * as Option from "effect/Option"
import { modelArgument, rolloutTimeout } from "./commands.js"
import { connectionFlags, connectionOf, jsonFlag, withDefaultText } from "./flags.js"
import { lazily } from "./lazy.js"

const canary = () => import("./canary.js")
const opt = <A>(o: Option.Option<A>): A | undefined => Option.getOrUndefined(o)

const promoteCommand = Command.make(
  "promote",
  {
    ...connectionFlags,
    model: modelArgument,
    timeout: rolloutTimeout,
    json: jsonFlag('{"model", "version", "canary", "acked", "pending", "rolloutMs"}')
  },
  (o) => lazily(canary, (m) => m.promote(connectionOf(o), o.model, o.timeout, o.json))
).pipe(
  Command.withDescription(
    "Make the running canary's candidate the current version (the normal rollout, with no failed request); exits 1 (NoCanary) when none runs."
  )
)

const abortCommand = Command.make(
  "abort",
  {
    ...connectionFlags,
    model: modelArgument,
    timeout: rolloutTimeout,
    json: jsonFlag('{"model", "canary", "acked", "pending"}')
  },
  (o) => lazily(canary, (m) => m.abort(connectionOf(o), o.model, o.timeout, o.json))
).pipe(
  Command.withDescription(
    "Go back to the stable version only, and wait until every replica dropped the candidate; exits 1 (NoCanary) when none runs."
  )
)

const statusCommand = Command.make(
  "status",
  {
    ...connectionFlags,
    model: modelArgument,
    json: jsonFlag('{"model", "canary", "replicas", "stable", "candidate", "shadow"}')
  },
  (o) => lazily(canary, (m) => m.status(connectionOf(o), o.model, o.json))
).pipe(
  Command.withDescription(
    "The canary (running, or how the last one ended) and per version its requests, errors, p50/p99, and the shadow agreement."
  )
)

export const canaryCommand = Command.make(
  "canary",
  {
    ...connectionFlags,
    model: modelArgument,
    path: Flag.Directory("path").pipe(
      Flag.withDescription("Folder with the candidate's model (it takes the next version number)"),
      Flag.optional
    ),
    version: Flag.Int("version").pipe(
      Flag.withDescription("A version the registry keeps, as the candidate"),
      Flag.optional
    ),
    percent: Flag.Finite("percent").pipe(Flag.withDescription("Share of requests the candidate answers, 0 to 100")),
    stickyKey: Flag.String("sticky-key").pipe(
      Flag.withDescription(
        "header:NAME or an input name: the split is a hash of that value, so one key always gets one version (requests without it get the stable one)"
      ),
      Flag.optional
    ),
    shadow: Flag.Finite("shadow").pipe(
      Flag.withDescription(
        withDefaultText(
          "Share of the stable version's requests re-run on the candidate after the reply is sent, compared (argmax agreement, max |difference|)",
          0
        )
      ),
      Flag.withDefault(0)
    ),
    guard: Flag.String("guard").pipe(
      Flag.withDescription(
        "Abort by itself when a threshold is crossed: min-agreement=A, max-error-rate=R, max-p99-ratio=X, with min-samples=N (default 100) over window=D (default 60s), comma-separated"
      ),
      Flag.optional
    ),
    timeout: rolloutTimeout,
    json: jsonFlag('{"model", "canary", "acked", "pending"}')
  },
  (o) =>
    lazily(canary, (m) =>
      m.start(connectionOf(o), o.model, {
        path: opt(o.path),
        version: opt(o.version),
        percent: o.percent,
        shadow: o.shadow,
        stickyKey: opt(o.stickyKey),
        guard: opt(o.guard),
        timeoutMs: o.timeout,
        json: o.json
      })
    )
).pipe(
  Command.withDescription(
    "Run a candidate version beside the current one on every replica: --percent of requests answered by it, --shadow of the rest re-run on it after the reply; a --guard aborts it by itself. Needs JetStream."
  ),
  Command.withExamples([
    {
      command: "modelbus canary iris --path ./retrained --percent 10 --shadow 100 --guard min-agreement=0.95",
      description: "10 % of callers get the candidate, every request is compared"
    },
    { command: "modelbus canary promote iris", description: "Make the candidate current" }
  ]),
  Command.withSubcommands([promoteCommand, abortCommand, statusCommand])
)
