// An actor's batch limit under `maxBatchSize: auto`: when asked (once it is ready, and after each update)
// it probes the version served and gives the batcher the size measured, unless a newer version took over.
import { Effect, Queue, type Scope } from "effect"
import { AUTO_BATCH_SIZE, type BatchingOptions, type BatchLimit } from "../protocol/ipc.js"
import { messageOf } from "../protocol/values.js"
import type { Batcher } from "./batcher.js"
import { probeBatchSizes } from "./batchProbe.js"
import { BATCH_PROBE, type BatchProbeOptions, chooseBatchSize, describeTimings, probeBlocker } from "./batchSizing.js"
import type { ModelLoop } from "./modelLoop.js"
import { hold, release, type ServingModel, type ServingVersion } from "./servingModel.js"

export interface BatchLimitContext {
  readonly actorId: string
  readonly modelName: string
  readonly serving: ServingModel
  readonly batcher: Pick<Batcher, "setLimit" | "limit">
  /** Runs a probe call between the actor's batches. */
  readonly between: ModelLoop["between"]
  readonly options: BatchingOptions
  readonly probe?: BatchProbeOptions
  /** The probe's clock in ms: the process's CPU time unless a test gives another. */
  readonly now?: () => number
}

export interface BatchSizer {
  /** Measures the version served now (in the background; a request made while measuring is kept for after). */
  readonly measure: () => void
}

/** Probes `version` and sets its limit, unless another version is served by the time the probe ends. */
const measureVersion = (ctx: BatchLimitContext, version: ServingVersion, probe: BatchProbeOptions) =>
  Effect.gen(function* () {
    const { batcher, serving } = ctx
    const about = `actor ${ctx.actorId}: ${ctx.modelName} v${version.version}`
    const blocked = probeBlocker(version.model.signature, probe)
    if (blocked !== undefined) {
      batcher.setLimit({ maxBatchSize: blocked.size, source: "fallback", version: version.version })
      return yield* Effect.logInfo(`${about} batches at most ${blocked.size} rows, not measured: ${blocked.reason}`)
    }
    batcher.setLimit(probingLimit(batcher))
    const started = performance.now()
    const stale = () => serving.current !== version
    /** A probe call holds its version only while it runs: a version swapped out meanwhile is disposed at once, as without a probe. */
    const between = <A>(task: () => Promise<A>) =>
      ctx.between(async () => {
        if (stale()) throw new Error(`v${version.version} is no longer served`)
        const held = hold(version)
        try {
          return await task()
        } finally {
          release(held)
        }
      })
    const table = yield* Effect.tryPromise(() =>
      probeBatchSizes(version.model, { between, stale, ...(ctx.now === undefined ? {} : { now: ctx.now }) }, probe)
    ).pipe(
      Effect.catch((e) => Effect.logWarning(`${about}: batch-size probe failed: ${messageOf(e)}`).pipe(Effect.as([])))
    )
    if (stale()) return
    const choice = chooseBatchSize(table, probe)
    const limit: BatchLimit = {
      maxBatchSize: choice.size,
      source: choice.measured ? "measured" : "fallback",
      version: version.version
    }
    batcher.setLimit(limit)
    const took = `${(performance.now() - started).toFixed(0)} ms`
    yield* Effect.logInfo(
      choice.measured
        ? `${about} batches at most ${choice.size} rows, measured in ${took} (samples per CPU second by batch size: ${describeTimings(table)})`
        : `${about} batches at most ${choice.size} rows (the default): ${choice.reason} in ${took}`
    )
  })

/** While probing, the limit stays where it is (the fallback at first), reported as being measured. */
const probingLimit = (batcher: BatchLimitContext["batcher"]): BatchLimit => ({
  maxBatchSize: batcher.limit().maxBatchSize,
  source: "probing"
})

/**
 * Starts the actor's batch sizer in the scope. A fixed `maxBatchSize` needs none: `measure` does nothing.
 * With `auto`, each `measure` probes the version served then; requests made meanwhile collapse into one.
 */
export const batchSizer = (ctx: BatchLimitContext): Effect.Effect<BatchSizer, never, Scope.Scope> =>
  ctx.options.maxBatchSize !== AUTO_BATCH_SIZE
    ? Effect.succeed({ measure: () => {} })
    : Effect.gen(function* () {
        const probe = ctx.probe ?? BATCH_PROBE
        const asked = yield* Queue.dropping<void>(1)
        const measureCurrent = Effect.suspend(() => measureVersion(ctx, ctx.serving.current, probe))
        yield* Queue.take(asked).pipe(Effect.andThen(measureCurrent), Effect.forever, Effect.forkScoped)
        return {
          measure: () => {
            Queue.offerUnsafe(asked, undefined)
          }
        }
      })
