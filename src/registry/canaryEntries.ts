// Reading, writing (compare-and-swap only) and watching a model's canary entry in the registry's KV
// bucket; an entry someone wrote that does not decode reads as no state, with the reason.
import { type KV, KvWatchInclude } from "@nats-io/kv"
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import { messageOf } from "../protocol/values.js"
import { CanaryConflict, CanaryRunning } from "./canaryErrors.js"
import { type CanaryState, canaryKey, decodeCanaryState } from "./canaryState.js"
import type { RegistryUnavailable } from "./errors.js"
import { attempt, unavailable } from "./io.js"

/** The canary entry of a model at a KV revision: its state, or why what is stored there is not one. */
export interface CanaryEntry {
  readonly state: CanaryState | undefined
  readonly revision: number
  readonly problem?: string
}

/** Larger entries are not canaries (a candidate's signature of 1024 inputs fits well within it). */
const MAX_CANARY_BYTES = 512 * 1024

export const parseCanaryEntry = (model: string, revision: number, value: Uint8Array): CanaryEntry => {
  const where = `canary entry of ${model} (revision ${revision})`
  if (value.byteLength > MAX_CANARY_BYTES) {
    return { state: undefined, revision, problem: `${where} is ${value.byteLength} bytes; at most ${MAX_CANARY_BYTES}` }
  }
  let json: unknown
  try {
    json = JSON.parse(new TextDecoder().decode(value))
  } catch (cause) {
    return { state: undefined, revision, problem: `${where} is not JSON: ${messageOf(cause)}` }
  }
  const decoded = decodeCanaryState(json)
  return decoded.ok
    ? { state: decoded.value, revision }
    : { state: undefined, revision, problem: `${where} is not a canary: ${decoded.reason}` }
}

export interface CanaryEntries {
  /** The model's canary entry, if it ever had one (the last canary stays recorded after it ended). */
  readonly canary: (model: string) => Effect.Effect<CanaryEntry | undefined, RegistryUnavailable>
  /** Writes `state` if the entry is still at `expectedRevision` (undefined: none yet); CanaryConflict otherwise. */
  readonly writeCanary: (
    model: string,
    state: CanaryState,
    expectedRevision: number | undefined
  ) => Effect.Effect<number, CanaryConflict | RegistryUnavailable>
  /** The entries written after now, until the scope closes (watching starts before this returns). */
  readonly watchCanary: (
    model: string
  ) => Effect.Effect<Stream.Stream<CanaryEntry, RegistryUnavailable>, RegistryUnavailable, Scope.Scope>
}

export const canaryEntries = (kv: KV): CanaryEntries => ({
  canary: (model) =>
    attempt("canary read", () => kv.get(canaryKey(model))).pipe(
      Effect.map((e) =>
        e === null || e.operation !== "PUT" ? undefined : parseCanaryEntry(model, e.revision, e.value)
      )
    ),
  writeCanary: (model, state, expectedRevision) =>
    Effect.tryPromise({
      try: () => {
        const value = new TextEncoder().encode(JSON.stringify(state))
        const key = canaryKey(model)
        return expectedRevision === undefined ? kv.create(key, value) : kv.update(key, value, expectedRevision)
      },
      catch: (error): CanaryConflict | RegistryUnavailable =>
        /wrong last sequence|key exists/i.test(messageOf(error))
          ? new CanaryConflict({ message: `the canary of ${model} changed while it was being written`, model })
          : unavailable("canary write")(error)
    }),
  watchCanary: (model) =>
    Effect.acquireRelease(
      attempt("canary watch", () => kv.watch({ key: canaryKey(model), include: KvWatchInclude.UpdatesOnly })),
      (watcher) => Effect.sync(() => watcher.stop())
    ).pipe(
      Effect.map((watcher) =>
        Stream.fromAsyncIterable(watcher, unavailable("canary watch")).pipe(
          Stream.filter((e) => e.operation === "PUT"),
          Stream.map((e) => parseCanaryEntry(model, e.revision, e.value))
        )
      )
    )
})

/** CanaryRunning while a canary runs on `model`: a new current version would move its stable version away under it. */
export const refuseDuringCanary = (entries: CanaryEntries, model: string) =>
  entries.canary(model).pipe(
    Effect.flatMap((entry) => {
      const running = entry?.state?.phase === "running" ? entry.state : undefined
      return running === undefined
        ? Effect.void
        : Effect.fail(
            new CanaryRunning({
              message: `${model} has a canary running (candidate v${running.candidate.version} beside v${running.stable}): promote or abort it first`,
              model,
              candidate: running.candidate.version
            })
          )
    })
  )
