// How an actor follows the registry: load the current version at start (seeding version 1 from
// its path when the registry is empty), then preload, check, warm up and swap in each new version.
import type { NatsConnection } from "@nats-io/transport-node"
import { Cause, Effect, Queue, type Scope } from "effect"
import { materialize, readModelFolder } from "../model/artifacts.js"
import { ModelLoadFailed } from "../model/errors.js"
import { type LoadedModel, loadModel } from "../model/loader.js"
import { probeInputs } from "../model/specs.js"
import type { ActorSettings } from "../protocol/ipc.js"
import type { UpdateAck } from "../protocol/messages.js"
import { subjects } from "../protocol/subjects.js"
import { messageOf } from "../protocol/values.js"
import { IncompatibleSignature } from "../registry/errors.js"
import { publishVersion } from "../registry/publish.js"
import type { Registry } from "../registry/Registry.js"
import { type ModelVersion, signatureMismatch } from "../registry/versions.js"
import { type ServingModel, swapIn } from "./servingModel.js"

/** Downloads (digest-checked) and loads a version's artifacts. */
export const loadVersion = (registry: Registry, model: string, entry: ModelVersion) =>
  registry.fetchArtifacts(model, entry).pipe(
    Effect.flatMap((files) =>
      Effect.acquireUseRelease(
        Effect.promise(() => materialize(files)),
        (folder) => loadModel(folder.dir),
        (folder) => Effect.promise(() => folder.remove())
      )
    )
  )

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
  return yield* publishVersion(registry, settings.model, files, { source: `path:${settings.path}` }).pipe(
    Effect.catchTag("VersionConflict", () =>
      registry
        .current(settings.model)
        .pipe(
          Effect.flatMap((now) =>
            now === undefined ? Effect.die("registry entry vanished") : Effect.succeed(now.entry)
          )
        )
    )
  )
})

/** Runs the model once on zeros so its kernels are compiled before it takes traffic. */
const warmUp = (model: LoadedModel) =>
  Effect.promise(() => model.predict(probeInputs(model.signature.inputs))).pipe(Effect.asVoid)

/** Follows new versions for as long as the scope is open, acknowledging each on the bus. */
export const followUpdates = Effect.fnUntraced(function* (
  nc: NatsConnection,
  registry: Registry,
  serving: ServingModel,
  settings: ActorSettings,
  log: (message: string) => void
): Effect.fn.Return<void, unknown, Scope.Scope> {
  const published = yield* Queue.unbounded<ModelVersion>()
  const stop = yield* registry.watch(settings.model, (entry) => Queue.offerUnsafe(published, entry))
  yield* Effect.addFinalizer(() => stop)
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
  const apply = (entry: ModelVersion) =>
    Effect.gen(function* () {
      if (entry.version <= serving.current.version) return
      const next = yield* loadVersion(registry, settings.model, entry)
      const mismatch =
        entry.force === true ? undefined : signatureMismatch(serving.current.model.signature, next.signature)
      if (mismatch !== undefined) {
        next.dispose()
        return yield* new IncompatibleSignature({ message: mismatch, model: settings.model })
      }
      yield* warmUp(next)
      swapIn(serving, next, entry.version)
      ack(entry.version)
      log(`actor ${settings.id} now serves ${settings.model} v${entry.version} (${entry.source})`)
    }).pipe(
      Effect.catchCause((cause) =>
        Effect.sync(() => {
          const why = messageOf(Cause.squash(cause))
          ack(entry.version, why)
          log(
            `actor ${settings.id} refused ${settings.model} v${entry.version}, keeps v${serving.current.version}: ${why}`
          )
        })
      )
    )
  yield* Effect.forkScoped(Queue.take(published).pipe(Effect.flatMap(apply), Effect.forever))
})
