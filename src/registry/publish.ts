// Publishing a new model version: check its files, load it once to describe and vet it (signature, finite
// weights, warm-up outputs), refuse an incompatible signature unless forced, upload, compare-and-swap.
import * as Effect from "effect/Effect"
import type { ModelFiles } from "../model/artifacts.js"
import { findNonFinite } from "../model/finite.js"
import type { LoadedModel } from "../model/loader.js"
import { checkModelFiles } from "../model/manifest.js"
import { BadInput, NotFound } from "../protocol/errors.js"
import { messageOf } from "../protocol/values.js"
import { encodeBundle } from "./bundle.js"
import { refuseDuringCanary } from "./canaryEntries.js"
import { artifactCorrupt, IncompatibleSignature, ModelNotFinite, VersionConflict, VersionNotFound } from "./errors.js"
import type { Registry } from "./Registry.js"
import { type ModelVersion, signatureMismatch } from "./versions.js"

export interface PublishOptions {
  /** Where the version came from, recorded in the registry. */
  readonly source: string
  /** Accept a signature that differs from the current version's. */
  readonly force?: boolean
  /** Publish only while the current version is still this one (0: none yet); VersionConflict otherwise. */
  readonly after?: number
  readonly onProgress?: (sent: number, total: number) => void
}

/**
 * The loader, imported only when a version is published, so plain clients start fast; TensorFlow.js
 * is set up only for a TF.js model (the loader imports ONNX Runtime itself for an ONNX one).
 */
const modelRuntime = (files: ModelFiles) =>
  Effect.promise(async () => {
    const { loadModelFiles, runtimeOf } = await import("../model/loader.js")
    if (runtimeOf(files) === "onnx") return { loadModelFiles, initRuntime: () => Effect.void }
    const { initRuntime } = await import("../model/runtime.js")
    return { loadModelFiles, initRuntime: () => Effect.asVoid(initRuntime()) }
  })

/** ModelNotFinite when a weight of `loaded` or its output on a zero probe batch is NaN or ±Infinity. */
export const checkFinite = (model: string, version: number, loaded: LoadedModel) =>
  Effect.tryPromise({
    try: () => findNonFinite(loaded),
    catch: (e) => new BadInput({ message: `${model} v${version} fails on a zero probe batch: ${messageOf(e)}` })
  }).pipe(
    Effect.flatMap((problem) =>
      problem === undefined
        ? Effect.void
        : Effect.fail(new ModelNotFinite({ message: `${model} v${version} is not finite: ${problem}`, model }))
    )
  )

/**
 * The format and signature of the model in `files` (to be `model` v`version`): BadInput when it
 * does not load or run, ModelNotFinite when its weights or warm-up outputs are not finite,
 * BackendUnavailable when this process cannot load the runtime it needs (ONNX Runtime).
 */
export const describeModel = (model: string, version: number, files: ModelFiles) =>
  modelRuntime(files).pipe(
    Effect.flatMap(({ initRuntime, loadModelFiles }) =>
      Effect.acquireUseRelease(
        initRuntime().pipe(
          Effect.andThen(loadModelFiles(files, `${model} v${version}`)),
          // a runtime this process cannot load says so as it is: the artifacts may well be fine
          Effect.mapError((e) =>
            e._tag === "BackendUnavailable"
              ? e
              : new BadInput({ message: `the new artifacts do not load as a model: ${e.message}` })
          )
        ),
        (loaded) => checkFinite(model, version, loaded).pipe(Effect.as(loaded.signature)),
        (loaded) => Effect.sync(() => loaded.dispose())
      )
    )
  )

/** ArtifactCorrupt when `files` may not be loaded (paths, dtypes, sizes, the registry's size limit). */
export const checkArtifacts = (registry: Registry, model: string, version: number, files: ModelFiles) => {
  const problem = checkModelFiles(files, registry.limits)
  return problem === undefined ? Effect.void : Effect.fail(artifactCorrupt(model, `${model} v${version}`, problem))
}

/** Publishes `files` as the model's next version and prunes artifacts past the retention. */
export const publishVersion = Effect.fn("Registry.publishVersion")(function* (
  registry: Registry,
  model: string,
  files: ModelFiles,
  options: PublishOptions
) {
  yield* refuseDuringCanary(registry, model)
  const current = yield* registry.current(model)
  const version = (current?.entry.version ?? 0) + 1
  if (options.after !== undefined && options.after !== version - 1) {
    return yield* new VersionConflict({
      message: `model "${model}" is at version ${version - 1} while this update expected version ${options.after}`,
      model,
      expected: options.after,
      actual: version - 1
    })
  }
  yield* checkArtifacts(registry, model, version, files)
  const signature = yield* describeModel(model, version, files)
  if (current !== undefined && options.force !== true) {
    const mismatch = signatureMismatch(current.entry.signature, signature)
    if (mismatch !== undefined) {
      return yield* new IncompatibleSignature({
        message: `refusing ${model} v${version}: ${mismatch} (pass force to accept)`,
        model
      })
    }
  }
  const bundle = encodeBundle(files)
  const digest = yield* registry.storeArtifacts(model, bundle, options.onProgress)
  const entry: ModelVersion = {
    version,
    digest,
    format: signature.format,
    signature,
    createdAt: new Date().toISOString(),
    source: options.source,
    size: bundle.byteLength,
    ...(options.force === true ? { force: true } : {})
  }
  yield* registry.publish(model, entry, current?.revision)
  yield* registry.prune(model).pipe(Effect.ignore)
  return entry
})

/**
 * A new version that serves the artifacts of an earlier one (`to`, default the one before current):
 * NotFound when the registry has no such model, VersionNotFound when it does not keep that version.
 */
export const rollbackVersion = Effect.fn("Registry.rollback")(function* (
  registry: Registry,
  model: string,
  to?: number
) {
  yield* refuseDuringCanary(registry, model)
  const current = yield* registry.current(model)
  const history = yield* registry.history(model)
  const target = to ?? (current === undefined ? undefined : current.entry.version - 1)
  if (current === undefined) {
    return yield* new NotFound({ message: `no model "${model}" in the registry`, target: model })
  }
  const earlier = history.find((v) => v.version === target)
  if (earlier === undefined) {
    const kept = history.map((v) => v.version).join(", ") || "none"
    return yield* new VersionNotFound({
      message: `cannot roll ${model} back to version ${target}: kept versions are ${kept}`,
      model
    })
  }
  const entry: ModelVersion = {
    ...earlier,
    version: current.entry.version + 1,
    createdAt: new Date().toISOString(),
    source: `rollback:${earlier.version}`,
    force: true
  }
  yield* registry.publish(model, entry, current.revision)
  return entry
})
