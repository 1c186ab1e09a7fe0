// `modelbus batch submit|status|wait|results|cancel|list`: flags, descriptions with their defaults, and
// handlers loaded when they run.
import * as Argument from "effect/cli/Argument"
import * as Command from "effect/cli/Command"
import * as Flag from "effect/cli/Flag"
import * as Option from "effect/Option"
import { BATCH_CONSUMER_DEFAULTS } from "../protocol/batch.js"
import {
  ACK_WAIT_CALLS,
  ACK_WAIT_FLOOR_MS,
  BACKOFF_GROWTH,
  BACKOFF_MAX_FACTOR,
  UNMEASURED_ACK_WAIT_MS
} from "../protocol/batchTiming.js"
import { modelArgument } from "./commands.js"
import { connectionFlags, connectionOf, intFlag, jsonFlag } from "./flags.js"
import { lazily } from "./lazy.js"

const batch = () => import("./batch.js")
const opt = <A>(o: Option.Option<A>): A | undefined => Option.getOrUndefined(o)

const jobArgument = Argument.String("job").pipe(Argument.withDescription("Job id, as `batch submit` printed it"))
const outputFlag = (description: string) =>
  Flag.String("output").pipe(Flag.withAlias("o"), Flag.withDescription(description))

const submitCommand = Command.make(
  "submit",
  {
    ...connectionFlags,
    model: modelArgument,
    input: Flag.String("input").pipe(
      Flag.withAlias("i"),
      Flag.withDescription(
        'Rows to run: .npy (first axis = rows; float32, int32, int64) or .jsonl (a nested array or {"inputs": …} per line)'
      )
    ),
    output: outputFlag(
      "Write the outputs here (.npy or .jsonl) in input order once the job is done; failed rows go to <output>.errors.jsonl"
    ).pipe(Flag.optional),
    chunkRows: Flag.Int("chunk-rows").pipe(
      Flag.withDescription(
        "Rows per chunk (default: up to 1024, filling at most 7/8 of the server's message size). A chunk too large for one message (rows over half of it, or a larger --chunk-rows) goes through the Object Store (bucket <prefix>_batch_data, up to 4 MiB of rows per chunk by default, at least one row), as does a result too large; the chunks' objects are deleted once the job is done"
      ),
      Flag.optional
    ),
    outputs: Flag.String("outputs").pipe(Flag.withDescription("Only these outputs, comma-separated"), Flag.optional),
    detach: Flag.Boolean("detach").pipe(
      Flag.withDescription("Print the job id and exit; follow it later with `batch wait`"),
      Flag.withDefault(false)
    ),
    ackWait: Flag.Int("ack-wait").pipe(
      Flag.withDescription(
        `Seconds (at least 1) a replica holding a chunk may stay silent (dead, hung) before the chunk goes to another (live ones send in-progress acks); each redelivery of the chunk multiplies it by ${BACKOFF_GROWTH}, up to ${BACKOFF_MAX_FACTOR}× (default: measured by the replicas, max(${ACK_WAIT_FLOOR_MS / 1000}, ${ACK_WAIT_CALLS} × the longest model call one timed) in whole seconds; ${UNMEASURED_ACK_WAIT_MS / 1000} until one is timed)`
      ),
      Flag.optional
    ),
    maxDeliver: intFlag(
      "max-deliver",
      BATCH_CONSUMER_DEFAULTS.maxDeliver,
      "Deliveries of a chunk (at least 1), after growing delays, before it is dead-lettered (every row failed with ChunkDeadLettered)"
    ),
    json: jsonFlag('the job {"job", "model", "rows", "chunks", "chunkRows", "rejected"}')
  },
  (o) =>
    lazily(batch, (m) =>
      m.submit(connectionOf(o), o.model, {
        input: o.input,
        output: opt(o.output),
        chunkRows: opt(o.chunkRows),
        outputs: opt(o.outputs)
          ?.split(",")
          .map((s) => s.trim())
          .filter((s) => s !== ""),
        detach: o.detach,
        json: o.json,
        ackWaitSeconds: opt(o.ackWait),
        maxDeliver: o.maxDeliver
      })
    )
).pipe(
  Command.withDescription(
    "Submit a dataset as a batch job on JetStream, print its id and, unless --detach, follow it until done (a progress bar on a terminal, a line per 10% otherwise). The job lives on the bus: killing this command does not stop it."
  ),
  Command.withExamples([
    {
      command: "modelbus batch submit iris --input rows.npy --output scores.npy",
      description: "Score every row; the outputs in input order, failures in scores.npy.errors.jsonl"
    }
  ])
)

const statusCommand = Command.make(
  "status",
  {
    ...connectionFlags,
    job: jobArgument.pipe(Argument.withDescription("Job id (default: every job)"), Argument.optional),
    json: jsonFlag('{"job", "state", "rows", "done", "failed", "rowsPerSecond", "etaSeconds", …}')
  },
  (o) => lazily(batch, (m) => m.status(connectionOf(o), opt(o.job), o.json))
).pipe(Command.withDescription("Rows total, done and failed, rows/s, ETA and state of a job (or of every job)."))

const waitCommand = Command.make("wait", { ...connectionFlags, job: jobArgument }, (o) =>
  lazily(batch, (m) => m.wait(connectionOf(o), o.job))
).pipe(
  Command.withDescription("Follow a job until every chunk has a result (re-attaches to a job whose submitter is gone).")
)

const resultsCommand = Command.make(
  "results",
  {
    ...connectionFlags,
    job: jobArgument,
    output: outputFlag("File to write (.npy or .jsonl); failed rows go to <output>.errors.jsonl")
  },
  (o) => lazily(batch, (m) => m.results(connectionOf(o), o.job, o.output))
).pipe(Command.withDescription("Write a finished job's outputs in input order, and its failed rows beside them."))

const cancelCommand = Command.make("cancel", { ...connectionFlags, job: jobArgument }, (o) =>
  lazily(batch, (m) => m.cancel(connectionOf(o), o.job))
).pipe(
  Command.withDescription(
    "Cancel a job: its chunks not yet taken are deleted from the work queue; those running finish."
  )
)

const listCommand = Command.make(
  "list",
  { ...connectionFlags, json: jsonFlag('{"jobs": [{"job", "model", "state", "rows", "submittedAt", …}]}') },
  (o) => lazily(batch, (m) => m.list(connectionOf(o), o.json))
).pipe(Command.withDescription("Every batch job's record, oldest first."))

export const batchCommand = Command.make("batch").pipe(
  Command.withDescription("Batch inference over a dataset file, as a resumable job on JetStream work queues."),
  Command.withSubcommands([submitCommand, statusCommand, waitCommand, resultsCommand, cancelCommand, listCommand])
)
