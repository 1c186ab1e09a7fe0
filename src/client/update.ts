// update-model from a client: publish new artifacts (or have one replica train a copy), then wait
// until every live replica reports the new version; plus listing, history, push and rollback.
import { randomUUID } from "node:crypto"
import { resolve } from "node:path"
import type { NatsConnection } from "@nats-io/transport-node"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import { readModelFolder } from "../model/artifacts.js"
import type { BackendUnavailable } from "../model/errors.js"
import { ArtifactCheckFailed } from "../model/manifest.js"
import { permissionDeniedOf } from "../nats/permissions.js"
import type { InferInputs } from "../protocol/codec.js"
import { parseBody, serialize } from "../protocol/codec.js"
import { BadInput, type BadReply, ConnectionError, NotFound, type PermissionDenied } from "../protocol/errors.js"
import { type FitOptions, FitProgress, FitReply, type FitRequest } from "../protocol/fit.js"
import type { SupervisorStatus } from "../protocol/messages.js"
import { decoderOf } from "../protocol/schemaIssues.js"
import { subjects } from "../protocol/subjects.js"
import { messageOf } from "../protocol/values.js"
import type { CanaryRunning } from "../registry/canaryErrors.js"
import {
  type ArtifactCorrupt,
  artifactCorrupt,
  type FitError,
  fitErrorFromBody,
  type IncompatibleSignature,
  type ModelNotFinite,
  type RegistryUnavailable,
  UpdateFailed,
  type VersionConflict
} from "../registry/errors.js"
import { publishVersion, rollbackVersion } from "../registry/publish.js"
import { openRegistry, type Registry } from "../registry/Registry.js"
import type { ModelVersion } from "../registry/versions.js"
import { refusedOr } from "./refused.js"
import { type AckCollector, ackCollector } from "./rollout.js"

/** Room kept in a fit message for what is not training data (options, progress token). */
const FIT_MESSAGE_MARGIN = 16 * 1024

/** Training data and options for `fit` (the wire body is protocol/fit's FitRequest). */
export interface FitData extends FitOptions {
  readonly x: InferInputs
  readonly y: InferInputs
}

/** New artifacts from a folder, or training data for one replica to fit a copy on (typed, or a FitRequest body read from JSON). */
export type UpdateSource = { readonly path: string } | { readonly fit: FitData | FitRequest }

export interface UpdateOptions {
  /** Accept new artifacts whose signature differs from the serving one. */
  readonly force?: boolean
  /** How long to wait for every replica to report the new version (default 30 s). */
  readonly timeoutMs?: number
  /** Upload progress of new artifacts, in bytes. */
  readonly onProgress?: (sent: number, total: number) => void
  /** For `fit`: told after each epoch as the replica trains (a replica that predates it reports none). */
  readonly onEpoch?: (progress: FitProgress) => void
}

export interface UpdateResult {
  readonly model: string
  readonly version: number
  /** Replicas now serving the new version. */
  readonly acked: ReadonlyArray<string>
  /** Live replicas that had not reported when the timeout passed. */
  readonly pending: ReadonlyArray<string>
  /** For `fit`: the training loss after each epoch. */
  readonly loss?: ReadonlyArray<number>
  /** From the update call to the last replica's acknowledgement. */
  readonly rolloutMs: number
}

/**
 * Why publishing new artifacts failed (`pushModel`); BackendUnavailable when this process cannot load
 * the runtime the model needs to be checked (ONNX Runtime on a platform without its binary);
 * CanaryRunning while a canary runs on the model.
 */
export type PushError =
  | BadInput
  | BackendUnavailable
  | CanaryRunning
  | PermissionDenied
  | RegistryUnavailable
  | VersionConflict
  | IncompatibleSignature
  | ArtifactCorrupt
  | ModelNotFinite

/** Why a rollout failed (`updateModel`, `rollbackModel`): publishing, training, or a replica that refused, or status that could not be asked. */
export type UpdateError = PushError | FitError | UpdateFailed | ConnectionError | BadReply | NotFound

/** Why the registry could not be read (`listModels`, `modelHistory`). */
export type RegistryReadError = PermissionDenied | RegistryUnavailable | NotFound

/** update-model: publish, train, push, roll back, list and history, over one connection. */
export interface Updates {
  /** Publishes a new version (artifacts folder, or `fit` on a replica) and waits until every replica serves it. */
  updateModel(model: string, source: UpdateSource, options?: UpdateOptions): Effect.Effect<UpdateResult, UpdateError>
  /** Publishes artifacts as the next version without waiting. */
  pushModel(model: string, path: string, options?: UpdateOptions): Effect.Effect<ModelVersion, PushError>
  /** A new version serving an earlier version's artifacts (default: the one before current); waits for the replicas. */
  rollbackModel(model: string, to?: number, options?: UpdateOptions): Effect.Effect<UpdateResult, UpdateError>
  /** Each model's current version. */
  readonly listModels: Effect.Effect<
    ReadonlyArray<{ readonly model: string; readonly current: ModelVersion }>,
    Exclude<RegistryReadError, NotFound>
  >
  /** Every kept version of `model`, oldest first; NotFound when the registry has none. */
  modelHistory(model: string): Effect.Effect<ReadonlyArray<ModelVersion>, RegistryReadError>
}

/**
 * The model in folder `path`, read and checked against the registry's limits: ArtifactCorrupt for a
 * path leaving the folder, a size the manifest does not declare or too many bytes; BadInput otherwise.
 */
const readArtifacts = (registry: Registry, model: string, path: string) =>
  Effect.tryPromise({
    try: () => readModelFolder(resolve(path), registry.limits),
    catch: (e) =>
      e instanceof ArtifactCheckFailed
        ? artifactCorrupt(model, resolve(path), e.problem)
        : new BadInput({ message: `cannot read a model from ${path}: ${messageOf(e)}` })
  })

const decodeFitReply = decoderOf(FitReply, "fit reply")
const decodeFitProgress = Schema.decodeUnknownOption(FitProgress)

/** The FitProgress in a message, or none when someone else wrote something else there. */
const fitProgressOf = (data: Uint8Array): Option.Option<FitProgress> => {
  const parsed = parseBody(data, "json")
  return parsed.ok ? decodeFitProgress(parsed.value) : Option.none()
}

/** Update operations over an open connection; `status` asks every supervisor for its actors. */
export const updatesOn = (
  nc: NatsConnection,
  prefix: string | undefined,
  status: Effect.Effect<ReadonlyArray<SupervisorStatus>, ConnectionError | BadReply | PermissionDenied>
): Updates => {
  /** The replicas of `model` that have a process now. */
  const liveReplicas = (model: string) =>
    Effect.map(status, (statuses) =>
      statuses.flatMap((s) => s.actors).filter((a) => a.model === model && a.pid !== null)
    )
  const collectAcks = (model: string) => ackCollector(nc, subjects(prefix).updateAcks(model), liveReplicas(model))

  let opened: Registry | undefined
  const registry = Effect.suspend(() =>
    opened !== undefined
      ? Effect.succeed(opened)
      : openRegistry(nc, { prefix: prefix ?? subjects().prefix }).pipe(
          Effect.tap((r) => Effect.sync(() => (opened = r)))
        )
  )

  const waitForReplicas = Effect.fnUntraced(function* (
    model: string,
    version: number,
    started: number,
    timeoutMs: number,
    collector: AckCollector<ConnectionError | BadReply | PermissionDenied>,
    loss?: ReadonlyArray<number>
  ) {
    const outcome = yield* collector.until(version, timeoutMs)
    if (outcome._tag === "Refused") {
      const { actor, error } = outcome.ack
      return yield* new UpdateFailed({
        message: `replica ${actor} could not load ${model} v${version} and keeps serving its version: ${error ?? "unknown"}`,
        model,
        version,
        replica: actor,
        cause: error ?? "unknown"
      })
    }
    const finished = yield* Clock.currentTimeMillis
    const result: UpdateResult = {
      model,
      version,
      acked: outcome.acked,
      pending: outcome.pending,
      rolloutMs: finished - started,
      ...(loss === undefined ? {} : { loss })
    }
    return result
  })

  /**
   * Runs `use` with a fresh progress token whose epochs go to `onEpoch` while it runs (subscribed
   * before the request goes out, on the same connection, so no epoch is missed).
   */
  const withEpochs = <A, E>(
    model: string,
    onEpoch: ((progress: FitProgress) => void) | undefined,
    use: (progress: string | undefined) => Effect.Effect<A, E>
  ) =>
    onEpoch === undefined
      ? use(undefined)
      : Effect.acquireUseRelease(
          Effect.sync(() => {
            const token = randomUUID()
            const sub = nc.subscribe(subjects(prefix).fitProgress(model, token), {
              callback: (error, msg) => {
                const progress = error === null ? fitProgressOf(msg.data) : Option.none()
                if (Option.isSome(progress)) onEpoch(progress.value)
              }
            })
            return { token, sub }
          }),
          ({ token }) => use(token),
          ({ sub }) => Effect.sync(() => sub.unsubscribe())
        )

  /**
   * Runs `use` with the fit body to send: as given when it fits in one message; else its `x` and `y` go to
   * the Object Store first (upload progress to `onProgress`) and the body names them (`data`), the object
   * deleted once the fit answered.
   */
  const withTrainingData = <A, E>(
    r: Registry,
    model: string,
    fit: FitData | FitRequest,
    onProgress: ((sent: number, total: number) => void) | undefined,
    use: (body: FitData | FitRequest) => Effect.Effect<A, E>
  ) => {
    const { x, y, ...fitOptions } = fit as FitData
    const limit = (nc.info?.max_payload ?? 1024 * 1024) - FIT_MESSAGE_MARGIN
    if (serialize(fit, "msgpack").byteLength <= limit) return use(fit)
    return Effect.acquireUseRelease(
      r.storeFitData(model, serialize({ x, y }, "msgpack"), onProgress),
      (name) => use({ ...fitOptions, data: name } as FitRequest),
      (name) => Effect.ignore(r.deleteFitData(name))
    )
  }

  const fitVersion = (model: string, data: FitData | FitRequest, timeoutMs: number) =>
    Effect.tryPromise({
      try: () => nc.request(subjects(prefix).fit(model), serialize(data, "msgpack"), { timeout: timeoutMs }),
      catch: (e) =>
        permissionDeniedOf(e) ?? new ConnectionError({ message: `fit request for ${model} failed: ${messageOf(e)}` })
    }).pipe(
      Effect.flatMap(
        (msg): Effect.Effect<{ version: number; loss: ReadonlyArray<number> }, ConnectionError | FitError> => {
          const parsed = parseBody(msg.data, "msgpack")
          if (!parsed.ok) return Effect.fail(new ConnectionError({ message: `unexpected fit reply: ${parsed.reason}` }))
          const error = fitErrorFromBody(parsed.value)
          if (error !== undefined) return Effect.fail(error)
          const reply = decodeFitReply(parsed.value)
          return reply.ok
            ? Effect.succeed(reply.value)
            : Effect.fail(new ConnectionError({ message: `unexpected fit reply: ${reply.reason}` }))
        }
      )
    )

  /** Publishes a new version (from a folder, or trained by a replica) and waits for every replica. */
  const updateModel = (model: string, source: UpdateSource, options: UpdateOptions = {}) =>
    Effect.scoped(
      Effect.gen(function* () {
        const collector = yield* collectAcks(model)
        const timeoutMs = options.timeoutMs ?? 30_000
        const started = yield* Clock.currentTimeMillis
        if ("fit" in source) {
          const r = yield* registry
          const fitted = yield* withEpochs(model, options.onEpoch, (progress) =>
            withTrainingData(r, model, source.fit, options.onProgress, (body) =>
              fitVersion(
                model,
                { ...body, ...(progress === undefined ? {} : { progress }) },
                Math.max(timeoutMs, 120_000)
              )
            )
          )
          return yield* waitForReplicas(model, fitted.version, started, timeoutMs, collector, fitted.loss)
        }
        const r = yield* registry
        const files = yield* readArtifacts(r, model, source.path)
        const entry = yield* publishVersion(r, model, files, {
          source: `path:${resolve(source.path)}`,
          ...(options.force === undefined ? {} : { force: options.force }),
          ...(options.onProgress === undefined ? {} : { onProgress: options.onProgress })
        })
        return yield* waitForReplicas(model, entry.version, started, timeoutMs, collector)
      })
    )

  /** Publishes artifacts as the next version without waiting for the replicas. */
  const pushModel = (model: string, path: string, options: UpdateOptions = {}) =>
    registry.pipe(
      Effect.flatMap((r) =>
        readArtifacts(r, model, path).pipe(
          Effect.flatMap((files) =>
            publishVersion(r, model, files, {
              source: `path:${resolve(path)}`,
              ...(options.force === undefined ? {} : { force: options.force }),
              ...(options.onProgress === undefined ? {} : { onProgress: options.onProgress })
            })
          )
        )
      )
    )

  /** A new version serving an earlier version's artifacts (default: the one before current); waits for the replicas. */
  const rollbackModel = (model: string, to?: number, options: UpdateOptions = {}) =>
    Effect.scoped(
      Effect.gen(function* () {
        const collector = yield* collectAcks(model)
        const started = yield* Clock.currentTimeMillis
        const entry = yield* rollbackVersion(yield* registry, model, to)
        return yield* waitForReplicas(model, entry.version, started, options.timeoutMs ?? 30_000, collector)
      })
    )

  /** Each model's current version. */
  const listModels = registry.pipe(
    Effect.flatMap((r) =>
      r
        .models()
        .pipe(
          Effect.flatMap((names) =>
            Effect.forEach(names, (name) =>
              r.current(name).pipe(Effect.map((c) => ({ model: name, current: c?.entry })))
            )
          )
        )
    ),
    Effect.map((rows) =>
      rows.filter((row): row is { model: string; current: ModelVersion } => row.current !== undefined)
    )
  )

  /** Every kept version of `model`, oldest first; NotFound when the registry has none (no such model). */
  const modelHistory = (model: string) =>
    registry.pipe(
      Effect.flatMap((r) => r.history(model)),
      Effect.flatMap((versions) =>
        versions.length === 0
          ? Effect.fail(new NotFound({ message: `no model "${model}" in the registry`, target: model }))
          : Effect.succeed(versions)
      )
    )

  // a refusal by the server (no right to the registry's subjects) is PermissionDenied, not RegistryUnavailable
  return {
    updateModel: (model: string, source: UpdateSource, options?: UpdateOptions) =>
      Effect.mapError(updateModel(model, source, options), refusedOr),
    pushModel: (model: string, path: string, options?: UpdateOptions) =>
      Effect.mapError(pushModel(model, path, options), refusedOr),
    rollbackModel: (model: string, to?: number, options?: UpdateOptions) =>
      Effect.mapError(rollbackModel(model, to, options), refusedOr),
    listModels: Effect.mapError(listModels, refusedOr),
    modelHistory: (model: string) => Effect.mapError(modelHistory(model), refusedOr)
  }
}
