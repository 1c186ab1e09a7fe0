// How a replica follows its model's canary entry in the registry: takes a running canary up (the candidate
// loaded and checked beside the current version) before it serves and whenever one starts, drops it when it
// ends, and writes its own guard's abort with compare-and-swap (the first replica to cross wins).
import type { NatsConnection } from "@nats-io/transport-node"
import { Cause, Effect, Exit, Queue, type Scope, Stream } from "effect"
import type { ActorSettings } from "../../protocol/ipc.js"
import { subjects } from "../../protocol/subjects.js"
import { messageOf } from "../../protocol/values.js"
import type { CanaryEntry } from "../../registry/canaryEntries.js"
import { CanaryPhase, type CanaryState } from "../../registry/canaryState.js"
import { IncompatibleSignature, type RegistryUnavailable } from "../../registry/errors.js"
import { checkFinite } from "../../registry/publish.js"
import type { Registry } from "../../registry/Registry.js"
import { signatureMismatch } from "../../registry/versions.js"
import type { Batcher } from "../batcher.js"
import type { ModelLoop } from "../modelLoop.js"
import { retire, type ServingModel, servingVersion } from "../servingModel.js"
import { loadVersion } from "../updates.js"
import { reconnectNotices, versionNotices } from "../versionNotices.js"
import { canaryStep, noCanaryHistory } from "./entrySteps.js"
import { type GuardAbort, haltCanary, type LiveCanary, makeLiveCanary, shadowed } from "./live.js"
import { dropHeld, holdForPromotion } from "./promotion.js"
import { ackCanary, answerFigures, publishAbort } from "./report.js"
import { makeShadowRunner } from "./shadow.js"

/** Shadowed requests waiting at most per replica; more are dropped (and counted) while it is busy. */
export const SHADOW_CAPACITY = 1024
/** A shadow call waits for half a batch of requests, or this long for its oldest. */
export const SHADOW_MAX_WAIT_MS = 50

export interface CanaryHost {
  readonly nc: NatsConnection
  readonly registry: Registry
  readonly serving: ServingModel
  readonly settings: ActorSettings
  /** The batch limit in force also bounds a shadow call. */
  readonly batcher: Pick<Batcher, "limit">
  /** Shadow runs go in its idle lane. */
  readonly loop: Pick<ModelLoop, "whenIdle">
}

/** Loads the candidate of `state` and checks it against the current version (signature, finite weights and outputs). */
const loadCandidate = (host: CanaryHost, state: CanaryState) =>
  Effect.scoped(
    Effect.gen(function* () {
      const { model } = host.settings
      // on the runtime options a new version gets (ONNX Runtime's threads)
      const loaded = yield* Effect.acquireRelease(
        loadVersion(host.registry, model, state.candidate, host.settings.onnx ?? {}),
        (loaded, exit) => (Exit.isSuccess(exit) ? Effect.void : Effect.sync(() => loaded.dispose()))
      )
      const mismatch = signatureMismatch(host.serving.current.model.signature, loaded.signature)
      if (mismatch !== undefined) return yield* new IncompatibleSignature({ message: mismatch, model })
      yield* checkFinite(model, state.candidate.version, loaded)
      return servingVersion(loaded, state.candidate.version, true)
    })
  )

/**
 * Follows the canary of the actor's model for as long as the scope is open. Before it returns, a
 * canary running now is taken up (so a restarted replica serves the same split from its first request).
 */
export const followCanary = Effect.fnUntraced(function* (host: CanaryHost): Effect.fn.Return<void, never, Scope.Scope> {
  const { nc, registry, serving, settings } = host
  const { model } = settings
  const verdicts = yield* Queue.unbounded<{ readonly canary: LiveCanary; readonly verdict: GuardAbort }>()
  /** The canary taken up last (its figures answer status after it ended), and whether it still runs here. */
  let last: LiveCanary | undefined
  let history = noCanaryHistory
  /** The revision of the last entry warned about as not a canary (warned about once). */
  let unreadable: number | undefined

  const takeUp = (state: CanaryState) =>
    loadCandidate(host, state).pipe(
      Effect.map((candidate) => {
        const live = makeLiveCanary(state, candidate, (verdict) =>
          Queue.offerUnsafe(verdicts, { canary: live, verdict })
        )
        live.shadow = makeShadowRunner({
          candidate,
          whenIdle: host.loop.whenIdle,
          maxRows: () => host.batcher.limit().maxBatchSize,
          minRows: () => Math.max(1, Math.floor(host.batcher.limit().maxBatchSize / 2)),
          maxWaitMs: SHADOW_MAX_WAIT_MS,
          capacity: SHADOW_CAPACITY,
          onResult: (outcome) => shadowed(live, outcome)
        })
        serving.loads++
        serving.canary = live
        last = live
        ackCanary(nc, settings, state, CanaryPhase.running, serving.loads)
        return live
      }),
      Effect.andThen(
        Effect.logInfo(
          `actor ${settings.id} runs the canary of ${model}: v${state.candidate.version} answers ${state.percent}% beside v${serving.current.version}, shadow ${state.shadow}%`
        )
      ),
      Effect.catchCause((cause) => {
        if (Cause.hasInterruptsOnly(cause)) return Effect.interrupt
        const why = messageOf(Cause.squash(cause))
        ackCanary(nc, settings, state, CanaryPhase.running, serving.loads, why)
        return Effect.logWarning(
          `actor ${settings.id} cannot run the canary v${state.candidate.version} of ${model}: ${why}`
        )
      })
    )

  /** Ends the canary running here: promoted, its candidate stays loaded until its version arrives. */
  const end = (live: LiveCanary, state: CanaryState) => {
    haltCanary(live)
    if (serving.canary === live) serving.canary = undefined
    if (state.phase === CanaryPhase.promoted) holdForPromotion(serving, live)
    else retire(live.candidate)
    ackCanary(nc, settings, state, state.phase, serving.loads)
    return Effect.logInfo(
      `actor ${settings.id} ended the canary of ${model} (${state.phase}): serves v${serving.current.version}`
    )
  }

  /** Takes a new running canary up, or ends the one running here, as the entry's canary id and phase say (entrySteps.ts). */
  const apply = (entry: CanaryEntry | undefined): Effect.Effect<void> =>
    Effect.suspend(() => {
      if (entry === undefined) return Effect.void
      const state = entry.state
      if (state === undefined) {
        if (entry.revision === unreadable) return Effect.void
        unreadable = entry.revision
        return Effect.logWarning(`actor ${settings.id} ignores ${entry.problem}`)
      }
      const running = serving.canary
      const next = canaryStep(history, running?.state.id, state.id, state.phase === CanaryPhase.running)
      history = next.history
      if (next.step === "takeUp") return takeUp(state)
      if (running === undefined || next.step === "ignore") return Effect.void
      return next.step === "end"
        ? end(running, state)
        : Effect.andThen(end(running, { ...running.state, phase: CanaryPhase.aborted }), takeUp(state))
    })

  const read = registry
    .canary(model)
    .pipe(
      Effect.catch((error) =>
        Effect.as(
          Effect.logWarning(`actor ${settings.id} cannot read the canary of ${model}: ${error.message}`),
          undefined
        )
      )
    )

  const watch: Stream.Stream<CanaryEntry, RegistryUnavailable> = yield* registry
    .watchCanary(model)
    .pipe(
      Effect.catch((error) =>
        Effect.as(
          Effect.logWarning(`actor ${settings.id} cannot watch the canary of ${model}: ${error.message}`),
          Stream.empty
        )
      )
    )
  const watched = watch.pipe(
    Stream.catch((error) =>
      Stream.fromEffect(
        Effect.logWarning(`actor ${settings.id}: the canary watch of ${model} ended: ${error.message}`)
      ).pipe(Stream.drain)
    )
  )
  const announced = yield* versionNotices(nc, subjects(settings.prefix).canaryNotices(model))
  yield* apply(yield* read)
  // a replica cut off while the canary changed missed the notice, and its watch may have ended with the lost server
  const notices = Stream.merge(announced, reconnectNotices(nc))
  yield* Stream.merge(watched, notices.pipe(Stream.mapEffect(() => read))).pipe(
    Stream.runForEach(apply),
    Effect.forkScoped
  )

  /**
   * Writes this replica's guard abort unless the canary already moved on; true when this write ended it.
   * Registry calls ride through JetStream elections themselves; a lost compare-and-swap is read again.
   */
  const writeAbort = (live: LiveCanary, verdict: GuardAbort, reason: string) =>
    Effect.gen(function* () {
      const entry = yield* registry.canary(model)
      const state = entry?.state
      if (
        entry === undefined ||
        state === undefined ||
        state.id !== live.state.id ||
        state.phase !== CanaryPhase.running
      )
        return false
      const ended: CanaryState = {
        ...state,
        phase: CanaryPhase.aborted,
        endedAt: new Date().toISOString(),
        reason,
        endedBy: settings.id,
        threshold: verdict.threshold,
        figures: verdict.figures
      }
      yield* registry.writeCanary(model, ended, entry.revision)
      return true
    }).pipe(Effect.retry({ times: 3, while: (error) => error._tag === "CanaryConflict" }))

  yield* Queue.take(verdicts).pipe(
    Effect.flatMap(({ canary, verdict }) => {
      const reason = `${verdict.reason} (replica ${settings.id})`
      return writeAbort(canary, verdict, reason).pipe(
        Effect.flatMap((won) => {
          if (!won) return Effect.void
          publishAbort(nc, settings, verdict, reason)
          if (!nc.isClosed()) nc.publish(subjects(settings.prefix).canaryNotices(model))
          return Effect.logWarning(`canary of ${model} aborted: ${reason}`)
        }),
        Effect.catch((error) =>
          Effect.logWarning(`actor ${settings.id} could not record the guard's abort of ${model}: ${error.message}`)
        )
      )
    }),
    Effect.forever,
    Effect.forkScoped
  )
  yield* answerFigures(nc, settings, () => ({ canary: last, live: last !== undefined && serving.canary === last }))
  yield* Effect.addFinalizer(() => Effect.sync(() => dropHeld(serving)))
})
