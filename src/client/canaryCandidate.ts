// Preparing a canary before anything is written: its shares and guard checked, and its candidate's registry
// entry (new artifacts described, vetted and stored under the next version, or a kept version picked).
import { resolve } from "node:path"
import * as Effect from "effect/Effect"
import { readModelFolder } from "../model/artifacts.js"
import { ArtifactCheckFailed } from "../model/manifest.js"
import { BadInput } from "../protocol/errors.js"
import { messageOf } from "../protocol/values.js"
import { encodeBundle } from "../registry/bundle.js"
import type { CanaryGuard } from "../registry/canaryState.js"
import { artifactCorrupt, IncompatibleSignature, VersionNotFound } from "../registry/errors.js"
import { checkArtifacts, describeModel } from "../registry/publish.js"
import type { Registry } from "../registry/Registry.js"
import { type ModelVersion, signatureMismatch } from "../registry/versions.js"

/** A candidate: new artifacts from a folder (they take the next version number), or a version the registry keeps. */
export type CanarySource = { readonly path: string } | { readonly version: number }

/** The guard's thresholds; unset ones are not checked. */
export interface GuardOptions {
  /** Sliding window, ms (default 60 000). */
  readonly windowMs?: number
  /** Observations a figure needs in the window before it can abort (default 100). */
  readonly minSamples?: number
  readonly maxErrorRate?: number
  readonly maxP99Ratio?: number
  readonly minAgreement?: number
}

export const GUARD_DEFAULTS = { windowMs: 60_000, minSamples: 100 } as const

export interface CanaryOptions {
  /** Share of requests the candidate answers, 0..100. */
  readonly percent: number
  /** Share of the stable version's requests re-run on the candidate after the reply, 0..100 (default 0). */
  readonly shadow?: number
  /** `header:NAME` or an input name: one key, one version while the split holds. */
  readonly stickyKey?: string
  readonly guard?: GuardOptions
  /** How long to wait for every replica to take the canary up (default 30 s). */
  readonly timeoutMs?: number
  readonly onProgress?: (sent: number, total: number) => void
}

/** BadInput unless `value` is a number from 0 to 100. */
export const checkShare = (what: string, value: number) =>
  Number.isFinite(value) && value >= 0 && value <= 100
    ? Effect.void
    : Effect.fail(new BadInput({ message: `${what} must be a number from 0 to 100, received ${value}` }))

export const guardOf = (guard: GuardOptions | undefined): Effect.Effect<CanaryGuard | undefined, BadInput> => {
  if (guard === undefined) return Effect.succeed(undefined)
  if (guard.maxErrorRate === undefined && guard.maxP99Ratio === undefined && guard.minAgreement === undefined) {
    return Effect.fail(
      new BadInput({ message: "a guard needs at least one threshold: max-error-rate, max-p99-ratio or min-agreement" })
    )
  }
  return Effect.succeed({ ...GUARD_DEFAULTS, ...guard })
}

const readArtifacts = (r: Registry, model: string, path: string) =>
  Effect.tryPromise({
    try: () => readModelFolder(resolve(path), r.limits),
    catch: (e) =>
      e instanceof ArtifactCheckFailed
        ? artifactCorrupt(model, resolve(path), e.problem)
        : new BadInput({ message: `cannot read a model from ${path}: ${messageOf(e)}` })
  })

/** The candidate's registry entry: new artifacts stored under the next version, or a kept version. */
export const candidateOf = Effect.fnUntraced(function* (
  r: Registry,
  model: string,
  current: ModelVersion,
  source: CanarySource,
  onProgress: ((sent: number, total: number) => void) | undefined
) {
  const refuse = (signature: ModelVersion["signature"], what: string) => {
    const mismatch = signatureMismatch(current.signature, signature)
    return mismatch === undefined
      ? Effect.void
      : Effect.fail(
          new IncompatibleSignature({ message: `refusing ${what} as the canary of ${model}: ${mismatch}`, model })
        )
  }
  if ("version" in source) {
    const kept = yield* r.history(model)
    const found = kept.find((v) => v.version === source.version)
    if (found === undefined) {
      return yield* new VersionNotFound({
        message: `${model} has no version ${source.version}: kept versions are ${kept.map((v) => v.version).join(", ") || "none"}`,
        model
      })
    }
    if (found.version === current.version) {
      return yield* new BadInput({
        message: `v${found.version} is the version ${model} serves now: a canary needs another one`
      })
    }
    yield* refuse(found.signature, `v${found.version}`)
    return found
  }
  const version = current.version + 1
  const files = yield* readArtifacts(r, model, source.path)
  yield* checkArtifacts(r, model, version, files)
  const signature = yield* describeModel(model, version, files)
  yield* refuse(signature, resolve(source.path))
  const bundle = encodeBundle(files)
  const digest = yield* r.storeArtifacts(model, bundle, onProgress)
  const entry: ModelVersion = {
    version,
    digest,
    format: signature.format,
    signature,
    createdAt: new Date().toISOString(),
    source: `path:${resolve(source.path)}`,
    size: bundle.byteLength
  }
  return entry
})
