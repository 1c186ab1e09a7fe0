// Canaries from a client: start one (a new or a kept version beside the current one, written to the
// registry with compare-and-swap, then every replica's ack awaited), promote, abort, and the figures.
import { randomBytes } from "node:crypto"
import type { NatsConnection } from "@nats-io/transport-node"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import type { BackendUnavailable } from "../model/errors.js"
import { gather } from "../nats/gather.js"
import { permissionDeniedOf } from "../nats/permissions.js"
import { CanaryFiguresReply } from "../protocol/canary.js"
import { parseBody } from "../protocol/codec.js"
import { BadInput, type BadReply, ConnectionError, NotFound, type PermissionDenied } from "../protocol/errors.js"
import type { SupervisorStatus } from "../protocol/messages.js"
import { subjects } from "../protocol/subjects.js"
import { messageOf } from "../protocol/values.js"
import type { CanaryEntry } from "../registry/canaryEntries.js"
import { CanaryRunning, NoCanary } from "../registry/canaryErrors.js"
import { CanaryPhase, type CanaryState, decodeCanaryState, parseStickyKey } from "../registry/canaryState.js"
import {
  type ArtifactCorrupt,
  type IncompatibleSignature,
  type ModelNotFinite,
  type RegistryUnavailable,
  UpdateFailed,
  type VersionConflict,
  type VersionNotFound
} from "../registry/errors.js"
import { openRegistry, type Registry } from "../registry/Registry.js"
import type { ModelVersion } from "../registry/versions.js"
import { canaryAckCollector } from "./canaryAcks.js"
import { type CanaryOptions, type CanarySource, candidateOf, checkShare, guardOf } from "./canaryCandidate.js"
import { type CanaryReport, canaryReport } from "./canaryReport.js"
import { refusedOr } from "./refused.js"
import { ackCollector } from "./rollout.js"

export type { CanaryOptions, CanarySource, GuardOptions } from "./canaryCandidate.js"

export interface CanaryRollout {
  readonly model: string
  readonly canary: CanaryState
  /** Replicas that acknowledged (took the canary up, or dropped it). */
  readonly acked: ReadonlyArray<string>
  /** Live replicas that had not acknowledged when the timeout passed. */
  readonly pending: ReadonlyArray<string>
}

export interface PromoteResult extends CanaryRollout {
  /** The version the candidate is current as. */
  readonly version: number
  readonly rolloutMs: number
}

/** What asking the live replicas can fail with. */
type StatusError = ConnectionError | BadReply | PermissionDenied

/**
 * Why a canary did not start: its options or candidate refused (BackendUnavailable: this process cannot
 * load the runtime the candidate needs to be checked), one running already, a replica that could not load it.
 */
export type CanaryStartError =
  | BadInput
  | BackendUnavailable
  | NotFound
  | CanaryRunning
  | IncompatibleSignature
  | ArtifactCorrupt
  | VersionNotFound
  | ModelNotFinite
  | UpdateFailed
  | RegistryUnavailable
  | StatusError

/** Why a promotion failed: no canary running, the current version moved, a replica that could not serve it. */
export type CanaryPromoteError =
  | NoCanary
  | NotFound
  | VersionConflict
  | UpdateFailed
  | RegistryUnavailable
  | StatusError

/** Why an abort or a status read failed: no canary (running, or ever), or the registry or bus could not be asked. */
export type CanaryReadError = NoCanary | RegistryUnavailable | StatusError

/** Canaries: start, promote, abort and their figures, over one connection. */
export interface Canaries {
  /** Starts a canary of `source` beside the current version; waits until every live replica took it up. */
  startCanary(
    model: string,
    source: CanarySource,
    options: CanaryOptions
  ): Effect.Effect<CanaryRollout, CanaryStartError>
  /** Makes the candidate the current version; waits until every live replica serves it. */
  promoteCanary(
    model: string,
    options?: { readonly timeoutMs?: number }
  ): Effect.Effect<PromoteResult, CanaryPromoteError>
  /** Goes back to the stable version only; waits until every live replica dropped the candidate. */
  abortCanary(model: string, options?: { readonly timeoutMs?: number }): Effect.Effect<CanaryRollout, CanaryReadError>
  /** The canary (running, or the last one) and its figures per version, summed over the replicas. */
  canaryStatus(model: string): Effect.Effect<CanaryReport, CanaryReadError>
}

const decodeFigures = Schema.decodeUnknownOption(CanaryFiguresReply)

const describeCanary = (state: CanaryState) =>
  state.phase === CanaryPhase.running
    ? `v${state.candidate.version} is running beside v${state.stable}`
    : `the last one (v${state.candidate.version}) was ${state.phase}${state.endedAt === undefined ? "" : ` at ${state.endedAt}`}${state.reason === undefined ? "" : `: ${state.reason}`}`

/** Canary operations over an open connection; `status` asks every supervisor for its actors. */
export const canariesOn = (
  nc: NatsConnection,
  prefix: string | undefined,
  status: Effect.Effect<ReadonlyArray<SupervisorStatus>, StatusError>
): Canaries => {
  const subject = subjects(prefix)
  const liveReplicas = (model: string) =>
    Effect.map(status, (statuses) =>
      statuses.flatMap((s) => s.actors).filter((a) => a.model === model && a.pid !== null)
    )

  let opened: Registry | undefined
  const registry = Effect.suspend(() =>
    opened !== undefined
      ? Effect.succeed(opened)
      : openRegistry(nc, { prefix: prefix ?? subject.prefix }).pipe(Effect.tap((r) => Effect.sync(() => (opened = r))))
  )

  const notify = (model: string) => Effect.sync(() => nc.isClosed() || nc.publish(subject.canaryNotices(model)))

  /** The model's running canary and its revision; NoCanary naming the last one otherwise. */
  const running = (r: Registry, model: string) =>
    r.canary(model).pipe(
      Effect.flatMap((entry) =>
        entry?.state?.phase === CanaryPhase.running
          ? Effect.succeed({ state: entry.state, revision: entry.revision })
          : Effect.fail(
              new NoCanary({
                message: `no canary is running on ${model}${entry?.state === undefined ? "" : `; ${describeCanary(entry.state)}`}`,
                model
              })
            )
      )
    )

  /** Starts a canary; the stable version and the registry are untouched by every refusal before the write. */
  const startCanary = Effect.fnUntraced(function* (model: string, source: CanarySource, options: CanaryOptions) {
    yield* checkShare("--percent", options.percent)
    yield* checkShare("--shadow", options.shadow ?? 0)
    const guard = yield* guardOf(options.guard)
    const r = yield* registry
    const current = yield* r.current(model)
    if (current === undefined) {
      return yield* new NotFound({ message: `no model "${model}" in the registry`, target: model })
    }
    const existing: CanaryEntry | undefined = yield* r.canary(model)
    const runningNow = existing?.state?.phase === CanaryPhase.running ? existing.state : undefined
    if (runningNow !== undefined) {
      return yield* new CanaryRunning({
        message: `${model} has a canary running already (v${runningNow.candidate.version} beside v${runningNow.stable}): promote or abort it first`,
        model,
        candidate: runningNow.candidate.version
      })
    }
    if (options.stickyKey !== undefined) {
      const sticky = parseStickyKey(options.stickyKey)
      const inputs = current.entry.signature.inputs.map((i) => i.name)
      if (sticky === undefined || (sticky.kind === "input" && !inputs.includes(sticky.name))) {
        return yield* new BadInput({
          message: `--sticky-key ${JSON.stringify(options.stickyKey)} is not a field of ${model}'s requests: expected one of its inputs (${inputs.join(", ")}) or header:NAME`
        })
      }
    }
    const candidate = yield* candidateOf(r, model, current.entry, source, options.onProgress)
    const state: CanaryState = {
      id: randomBytes(9).toString("base64url"),
      model,
      stable: current.entry.version,
      candidate,
      percent: options.percent,
      shadow: options.shadow ?? 0,
      ...(options.stickyKey === undefined ? {} : { stickyKey: options.stickyKey.trim() }),
      ...(guard === undefined ? {} : { guard }),
      startedAt: new Date().toISOString(),
      phase: CanaryPhase.running
    }
    const checked = decodeCanaryState(state)
    if (!checked.ok) return yield* new BadInput({ message: checked.reason })
    const collector = yield* canaryAckCollector(nc, subject.canaryAcks(model), liveReplicas(model))
    yield* r.writeCanary(model, state, existing?.revision).pipe(
      Effect.catchTag("CanaryConflict", () =>
        Effect.fail(
          new CanaryRunning({
            message: `another canary of ${model} was started at the same time; this one was not`,
            model,
            candidate: candidate.version
          })
        )
      )
    )
    yield* notify(model)
    const outcome = yield* collector.until(state.id, CanaryPhase.running, options.timeoutMs ?? 30_000)
    if (outcome._tag === "Refused") {
      const { actor, error } = outcome.ack
      const reason = `replica ${actor} could not load v${candidate.version}: ${error ?? "unknown"}`
      // ended by someone else meanwhile is as good: the replicas serve the stable version either way
      yield* revisionOf(r, model, state).pipe(
        Effect.flatMap((revision) => endCanary(r, model, { state, revision }, CanaryPhase.aborted, reason)),
        Effect.ignore
      )
      return yield* new UpdateFailed({
        message: `the canary of ${model} was aborted: ${reason}; every replica serves v${state.stable}`,
        model,
        version: candidate.version,
        replica: actor,
        cause: error ?? "unknown"
      })
    }
    const result: CanaryRollout = { model, canary: state, acked: outcome.acked, pending: outcome.pending }
    return result
  })

  const revisionOf = (r: Registry, model: string, state: CanaryState) =>
    r.canary(model).pipe(Effect.map((e) => (e?.state?.id === state.id ? e.revision : -1)))

  /** Writes the end of a running canary (compare-and-swap); NoCanary when it ended meanwhile. */
  const endCanary = (
    r: Registry,
    model: string,
    entry: { readonly state: CanaryState; readonly revision: number },
    phase: typeof CanaryPhase.aborted | typeof CanaryPhase.promoted,
    reason: string
  ) => {
    const ended: CanaryState = {
      ...entry.state,
      phase,
      endedAt: new Date().toISOString(),
      endedBy: "operator",
      reason
    }
    return r.writeCanary(model, ended, entry.revision).pipe(
      Effect.catchTag("CanaryConflict", () =>
        r.canary(model).pipe(
          Effect.flatMap((now) =>
            Effect.fail(
              new NoCanary({
                message: `the canary of ${model} changed meanwhile${now?.state === undefined ? "" : `: ${describeCanary(now.state)}`}`,
                model
              })
            )
          )
        )
      ),
      Effect.andThen(notify(model)),
      Effect.as(ended)
    )
  }

  /** Goes back to the stable version only; waits for every replica to drop the candidate. */
  const abortCanary = (model: string, options: { readonly timeoutMs?: number } = {}) =>
    Effect.scoped(
      Effect.gen(function* () {
        const r = yield* registry
        const entry = yield* running(r, model)
        const collector = yield* canaryAckCollector(nc, subject.canaryAcks(model), liveReplicas(model))
        const ended = yield* endCanary(r, model, entry, CanaryPhase.aborted, "aborted by the operator")
        const outcome = yield* collector.until(ended.id, CanaryPhase.aborted, options.timeoutMs ?? 30_000)
        const result: CanaryRollout = {
          model,
          canary: ended,
          acked: outcome._tag === "Refused" ? [] : outcome.acked,
          pending: outcome._tag === "Refused" ? [] : outcome.pending
        }
        return result
      })
    )

  /**
   * Makes the candidate the current version: the canary's end is written first (so a guard's abort and
   * a promotion cannot both win), then the version is published; waits for every replica to serve it.
   */
  const promoteCanary = (model: string, options: { readonly timeoutMs?: number } = {}) =>
    Effect.scoped(
      Effect.gen(function* () {
        const started = yield* Clock.currentTimeMillis
        const r = yield* registry
        const entry = yield* running(r, model)
        const current = yield* r.current(model)
        if (current === undefined) {
          return yield* new NotFound({ message: `no model "${model}" in the registry`, target: model })
        }
        const collector = yield* ackCollector(nc, subject.updateAcks(model), liveReplicas(model))
        const ended = yield* endCanary(r, model, entry, CanaryPhase.promoted, "promoted by the operator")
        const version = current.entry.version + 1
        const { candidate } = entry.state
        const published: ModelVersion =
          candidate.version === version
            ? candidate
            : {
                ...candidate,
                version,
                createdAt: new Date().toISOString(),
                source: `canary:${candidate.version}`
              }
        yield* r.publish(model, published, current.revision)
        yield* r.prune(model).pipe(Effect.ignore)
        const outcome = yield* collector.until(version, options.timeoutMs ?? 30_000)
        if (outcome._tag === "Refused") {
          const { actor, error } = outcome.ack
          return yield* new UpdateFailed({
            message: `replica ${actor} could not serve ${model} v${version} and keeps its version: ${error ?? "unknown"}`,
            model,
            version,
            replica: actor,
            cause: error ?? "unknown"
          })
        }
        const finished = yield* Clock.currentTimeMillis
        const result: PromoteResult = {
          model,
          canary: ended,
          version,
          acked: outcome.acked,
          pending: outcome.pending,
          rolloutMs: finished - started
        }
        return result
      })
    )

  /** The canary (running or the last one) and its figures per version, summed over the replicas that answer. */
  const canaryStatus = Effect.fnUntraced(function* (model: string) {
    const r = yield* registry
    const entry = yield* r.canary(model)
    if (entry?.state === undefined) {
      return yield* new NoCanary({
        message: `${model} has no canary${entry?.problem === undefined ? "" : ` (${entry.problem})`}`,
        model
      })
    }
    const state = entry.state
    const replicas = yield* liveReplicas(model)
    const replies = yield* Effect.tryPromise({
      try: () =>
        gather(nc, subject.canaryFigures(model), new Uint8Array(), {
          strategy: "count",
          maxMessages: Math.max(1, replicas.length),
          maxWait: 2_000
        }),
      catch: (e) =>
        permissionDeniedOf(e) ?? new ConnectionError({ message: `canary figures of ${model}: ${messageOf(e)}` })
    })
    const figures = replies.flatMap((msg) => {
      const parsed = parseBody(msg.data, "json")
      return parsed.ok ? Option.toArray(decodeFigures(parsed.value)) : []
    })
    const report: CanaryReport = canaryReport(state, figures)
    return report
  })

  return {
    startCanary: (model: string, source: CanarySource, options: CanaryOptions) =>
      Effect.mapError(Effect.scoped(startCanary(model, source, options)), refusedOr),
    promoteCanary: (model: string, options?: { readonly timeoutMs?: number }) =>
      Effect.mapError(promoteCanary(model, options), refusedOr),
    abortCanary: (model: string, options?: { readonly timeoutMs?: number }) =>
      Effect.mapError(abortCanary(model, options), refusedOr),
    canaryStatus: (model: string) => Effect.mapError(canaryStatus(model), refusedOr)
  }
}
