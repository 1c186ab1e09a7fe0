// Fetching a version's artifacts for a replica, every check before anything loads them: the bundle's
// size before download, its digest, its shape, then the model's own files against their manifest.
import type { ObjectStore } from "@nats-io/obj"
import * as Effect from "effect/Effect"
import type { ModelFiles } from "../model/artifacts.js"
import { type ArtifactLimits, checkModelFiles, DEFAULT_MAX_ARTIFACT_BYTES } from "../model/manifest.js"
import { decodeBundle, digestOf } from "./bundle.js"
import { ArtifactCorrupt, artifactCorrupt, RegistryUnavailable, VersionNotFound } from "./errors.js"
import { attempt, LAGGING_READ_RETRIES, objectName } from "./io.js"
import type { ModelVersion } from "./versions.js"

/** What a read that found nothing fails with while it is tried again. */
const NOT_YET = "not found yet" as const

/** The checked fetch of artifacts over `download` (bytes of an object, or null when there is none). */
export const fetchChecked =
  (store: ObjectStore, download: (name: string) => Effect.Effect<Uint8Array | null, string>, limits: ArtifactLimits) =>
  (
    model: string,
    entry: ModelVersion
  ): Effect.Effect<ModelFiles, ArtifactCorrupt | VersionNotFound | RegistryUnavailable> => {
    const maxBytes = limits.maxBytes ?? DEFAULT_MAX_ARTIFACT_BYTES
    return Effect.gen(function* () {
      const what = `${model} v${entry.version}`
      const name = objectName(model, entry.digest)
      // retried: a stream leader may be moving off a lost node, and the replica that answers may lag
      // behind the one that gave the version's entry (a node just restarted: then it finds nothing)
      const info = yield* attempt("download", () => store.info(name)).pipe(
        Effect.flatMap((found) => (found === null ? Effect.fail(NOT_YET) : Effect.succeed(found))),
        Effect.retry(LAGGING_READ_RETRIES),
        Effect.catch((error) => (error === NOT_YET ? Effect.succeed(null) : Effect.fail(error)))
      )
      if (info === null || info.deleted) {
        return yield* new VersionNotFound({
          message: `artifacts of ${what} (${entry.digest}) are not in the registry`,
          model
        })
      }
      if (info.size > maxBytes) {
        return yield* artifactCorrupt(model, what, {
          message: `the bundle is too large: expected at most ${maxBytes} bytes, received ${info.size} bytes`,
          expected: `at most ${maxBytes} bytes`,
          actual: `${info.size} bytes`
        })
      }
      const bytes = yield* download(name).pipe(
        Effect.flatMap((found) => (found === null ? Effect.fail(NOT_YET) : Effect.succeed(found))),
        Effect.retry({ schedule: LAGGING_READ_RETRIES, while: (why) => why === NOT_YET }),
        Effect.catch((why) =>
          why === NOT_YET
            ? Effect.succeed(null)
            : Effect.fail(new RegistryUnavailable({ message: `registry download failed: ${why}` }))
        )
      )
      if (bytes === null) {
        return yield* new VersionNotFound({
          message: `artifacts of ${what} (${entry.digest}) are not in the registry`,
          model
        })
      }
      const actual = digestOf(bytes)
      if (actual !== entry.digest) {
        return yield* new ArtifactCorrupt({
          message: `artifacts of ${what} do not match their digest: expected ${entry.digest}, received ${actual}`,
          model,
          expected: entry.digest,
          actual
        })
      }
      const files = decodeBundle(bytes)
      if (!files.ok) {
        return yield* artifactCorrupt(model, what, {
          message: `the bundle does not decode: ${files.reason}`,
          expected: "a bundle {files: {name: bytes}} with a model.json or model.onnx",
          actual: files.reason
        })
      }
      const problem = checkModelFiles(files.value, limits)
      if (problem !== undefined) return yield* artifactCorrupt(model, what, problem)
      return files.value
    })
  }
