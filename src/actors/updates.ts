// How an actor follows the registry: load the current version at start (seeding version 1 from
// its path when the registry is empty), then preload, check, warm up and swap in each new version.
import type { NatsConnection } from "@nats-io/transport-node"
import { Cause, Effect, Exit, type Scope, Stream } from "effect"
import { readModelFolder } from "../model/artifacts.js"
import { ModelLoadFailed } from "../model/errors.js"
import { loadModelFiles, type RuntimeOptions } from "../model/loader.js"
import type { ActorSettings } from "../protocol/ipc.js"
import type { UpdateAck } from "../protocol/messages.js"
import { subjects } from "../protocol/subjects.js"
import { messageOf } from "../protocol/values.js"
import { IncompatibleSignature, type RegistryUnavailable } from "../registry/errors.js"
import { checkFinite, publishVersion } from "../registry/publish.js"
import type { Registry } from "../registry/Registry.js"
import { type ModelVersion, signatureMismatch } from "../registry/versions.js"
import { adoptCandidate } from "./canary/promotion.js"
import { type ServingModel, swapIn } from "./servingModel.js"
import { reconnectNotices, versionNotices } from "./versionNotices.js"

/** Downloads (digest- and size-checked) and loads a version's artifacts. */
export const loadVersion = (registry: Registry, model: string, entry: ModelVersion, options: RuntimeOptions = {}) =>
  registry
    .fetchArtifacts(model, entry)
    .pipe(Effect.flatMap((files) => loadModelFiles(files, `${model} v${entry.version}`, registry.limits, options)))

/** The registry's current version, after seeding version 1 from `path` if there is none yet. */
export const currentVersion = Effect.fnUntraced(function* (registry: Registry, settings: ActorSettings) {
  const found = yield* registry.current(settings.model)
  if (found !== undefined) return found.entry
  const files = yield* Effect.tryPromise({
    try: () => readModelFolder(settings.path),
    catch: (e) =>
      new ModelLoadFailed({
        path: settings.path,
        message: `cannot seed version 1 from ${settings.path}: ${messageOf(e)}`
      })
  })
  // `after: 0`: a replica that lost the race to seed reads the winner's version instead of publishing a second
  // one; a canary running means a version is there too (one starts only beside a current version)
  const winner = registry
    .current(settings.model)
    .pipe(
      Effect.flatMap((now) => (now === undefined ? Effect.die("registry entry vanished") : Effect.succeed(now.entry)))
    )
  return yield* publishVersion(registry, settings.model, files, { source: `path:${settings.path}`, after: 0 }).pipe(
    Effect.catchTags({ VersionConflict: () => winner, CanaryRunning: () => winner })
  )
})

/** Loads `entry` and checks its weights and warm-up outputs are finite; the model is disposed when they are not. */
const loadChecked = (registry: Registry, model: string, entry: ModelVersion, options: RuntimeOptions = {}) =>
  loadVersion(registry, model, entry, options).pipe(
    Effect.tap((loaded) =>
      checkFinite(model, entry.version, loaded).pipe(Effect.tapError(() => Effect.sync(() => loaded.dispose())))
    )
  )

/**
 * The version a replica starts on: the registry's current one when it passes the checks a swap
 * makes (artifacts, finite weights and warm-up outputs); else the newest kept version that does —
 * the one the replicas serving meanwhile kept, as they refused the same version — with a warning.
 * When none does, the start fails with the current version's error. A registry that cannot be
 * read is no verdict on a version: the start fails with it.
 */
export const startingVersion = Effect.fnUntraced(function* (registry: Registry, settings: ActorSettings) {
  const current = yield* currentVersion(registry, settings)
  const first = yield* Effect.result(loadChecked(registry, settings.model, current, settings.onnx ?? {}))
  if (first._tag === "Success") return { model: first.success, version: current.version }
  const refused = first.failure
  if (refused._tag === "RegistryUnavailable") return yield* refused
  const earlier = (yield* registry.history(settings.model))
    .filter((v) => v.version < current.version)
    .sort((a, b) => b.version - a.version)
  for (const entry of earlier) {
    const loaded = yield* Effect.result(loadChecked(registry, settings.model, entry, settings.onnx ?? {}))
    if (loaded._tag === "Failure") {
      if (loaded.failure._tag === "RegistryUnavailable") return yield* loaded.failure
      continue
    }
    yield* Effect.logWarning(
      `actor ${settings.id}: ${settings.model} v${current.version} (current) cannot be served (${refused.message}); starting on v${entry.version}, the newest version that can`
    )
    return { model: loaded.success, version: entry.version }
  }
  return yield* refused
})

/**
 * Loads `entry`, checks it against the serving version (signature, finite weights and warm-up
 * outputs; the warm-up also compiles its kernels) and swaps it in. The loaded model is disposed on
 * every path that does not end in the swap, so a refused version leaves no tensor behind.
 */
const swapInVersion = (
  registry: Registry,
  serving: ServingModel,
  model: string,
  entry: ModelVersion,
  options: RuntimeOptions
) =>
  Effect.scoped(
    Effect.gen(function* () {
      // a promoted canary's candidate is loaded already
      if (adoptCandidate(serving, entry.digest, entry.version)) return
      const next = yield* Effect.acquireRelease(loadVersion(registry, model, entry, options), (loaded, exit) =>
        Exit.isSuccess(exit) ? Effect.void : Effect.sync(() => loaded.dispose())
      )
      const mismatch =
        entry.force === true ? undefined : signatureMismatch(serving.current.model.signature, next.signature)
      if (mismatch !== undefined) return yield* new IncompatibleSignature({ message: mismatch, model })
      yield* checkFinite(model, entry.version, next)
      swapIn(serving, next, entry.version)
    })
  )

/**
 * Follows new versions for as long as the scope is open, acknowledging each on the bus; `swapped`
 * runs after each swap, before the acknowledgement (the actor reports its new version to its supervisor).
 */
export const followUpdates = Effect.fnUntraced(function* (
  nc: NatsConnection,
  registry: Registry,
  serving: ServingModel,
  settings: ActorSettings,
  swapped: () => void = () => {}
): Effect.fn.Return<void, RegistryUnavailable, Scope.Scope> {
  const watched = (yield* registry.watch(settings.model)).pipe(
    Stream.catchCause((cause) =>
      Cause.hasInterruptsOnly(cause)
        ? Stream.failCause(cause)
        : Stream.fromEffect(
            Effect.logWarning(
              `actor ${settings.id}: the registry watch of ${settings.model} ended: ${Cause.pretty(cause)}`
            )
          ).pipe(Stream.drain)
    )
  )
  // A publisher also says so on the bus: the replica then reads the current version by a direct get,
  // which any live JetStream node answers (a watch's consumer may sit on a lost node for a while).
  const announced = yield* versionNotices(nc, subjects(settings.prefix).versions(settings.model))
  const currentEntry = registry.current(settings.model).pipe(
    Effect.map((found) => found?.entry),
    Effect.catch(() => Effect.succeed(undefined))
  )
  // Once both are subscribed, the current version is read once more: one published while this
  // replica loaded the version it started on (or set up its subscriptions) would otherwise be missed
  // for good, the replica serving the older one and its rollout never acknowledged.
  const published = Stream.merge(
    watched,
    Stream.concat(Stream.make(undefined), Stream.merge(announced, reconnectNotices(nc))).pipe(
      Stream.mapEffect(() => currentEntry),
      Stream.filter((entry): entry is ModelVersion => entry !== undefined)
    )
  )
  const ackSubject = subjects(settings.prefix).updateAcks(settings.model)
  const ack = (version: number, error?: string) => {
    const body: UpdateAck = {
      actor: settings.id,
      model: settings.model,
      version,
      ok: error === undefined,
      loads: serving.loads,
      ...(error === undefined ? {} : { error })
    }
    if (!nc.isClosed()) nc.publish(ackSubject, JSON.stringify(body))
  }
  // A version arrives twice (the watch and the notice): each is tried once, refused or not.
  let tried = 0
  const apply = (entry: ModelVersion) =>
    entry.version <= Math.max(serving.current.version, tried)
      ? Effect.void
      : Effect.sync(() => {
          tried = entry.version
        }).pipe(
          Effect.andThen(swapInVersion(registry, serving, settings.model, entry, settings.onnx ?? {})),
          Effect.andThen(
            Effect.suspend(() => {
              swapped()
              ack(entry.version)
              return Effect.logInfo(
                `actor ${settings.id} now serves ${settings.model} v${entry.version} (${entry.source})`
              )
            })
          ),
          Effect.catchCause((cause) => {
            if (Cause.hasInterruptsOnly(cause)) return Effect.failCause(cause)
            const why = messageOf(Cause.squash(cause))
            ack(entry.version, why)
            return Effect.logWarning(
              `actor ${settings.id} refused ${settings.model} v${entry.version}, keeps v${serving.current.version}: ${why}`
            )
          })
        )
  yield* published.pipe(
    Stream.runForEach(apply),
    Effect.catchCause((cause) =>
      Cause.hasInterruptsOnly(cause)
        ? Effect.failCause(cause)
        : Effect.logError(`actor ${settings.id} stopped following ${settings.model} updates: ${Cause.pretty(cause)}`)
    ),
    Effect.forkScoped
  )
})
