// Reading, writing (compare-and-swap only) and watching a model's canary entry in the registry's KV
// bucket, through JetStream elections; an entry someone wrote that does not decode reads as no state, with the reason.
import { type KV, KvWatchInclude } from "@nats-io/kv"
import type { NatsConnection } from "@nats-io/transport-node"
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import { messageOf } from "../protocol/values.js"
import { CanaryConflict, CanaryRunning } from "./canaryErrors.js"
import { type CanaryState, canaryKey, decodeCanaryState } from "./canaryState.js"
import { attemptOn, isFinal, throughElections } from "./elections.js"
import { RegistryUnavailable } from "./errors.js"
import { unavailable } from "./io.js"

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

/** What the canary entries are kept with: the registry's KV bucket, tried through JetStream elections. */
export interface CanaryStore {
  readonly kv: KV
  readonly nc: NatsConnection
  /** How long one call keeps trying while JetStream elects leaders. */
  readonly patienceMs: number
  /** A key's last entry as the stream's leader has it (a compare-and-swap is judged against it). */
  readonly latest: (
    key: string
  ) => Promise<{ readonly seq: number; readonly data: Uint8Array; readonly deleted: boolean } | null>
}

/** A compare-and-swap lost: the entry is not at the revision the write expected. */
const CAS_LOST = /wrong last sequence|key exists/i

const sameBytes = (a: Uint8Array, b: Uint8Array): boolean => {
  if (a.byteLength !== b.byteLength) return false
  for (let i = 0; i < a.byteLength; i++) if (a[i] !== b[i]) return false
  return true
}

export const canaryEntries = ({ kv, nc, patienceMs, latest }: CanaryStore): CanaryEntries => {
  const attempt = attemptOn(nc, patienceMs)
  const latestOf = (model: string) => attempt("canary read", () => latest(canaryKey(model)))

  // Tried through elections like a publish: a try whose write landed but whose answer was lost meets
  // its own entry on the next try (the compare-and-swap then fails), and that is success, not a conflict.
  const writeCanary = (model: string, state: CanaryState, expectedRevision: number | undefined) => {
    const key = canaryKey(model)
    const value = new TextEncoder().encode(JSON.stringify(state))
    let unanswered = false
    return throughElections(
      nc,
      "canary write",
      Effect.tryPromise({
        try: () => (expectedRevision === undefined ? kv.create(key, value) : kv.update(key, value, expectedRevision)),
        catch: (error) => error
      }).pipe(
        Effect.tapError((error) =>
          Effect.sync(() => {
            if (!isFinal(error)) unanswered = true
          })
        )
      ),
      patienceMs,
      (error) => error
    ).pipe(
      Effect.catch((error): Effect.Effect<number, CanaryConflict | RegistryUnavailable> => {
        if (error instanceof RegistryUnavailable) return Effect.fail(error)
        if (!CAS_LOST.test(messageOf(error))) return Effect.fail(unavailable("canary write")(error))
        const conflict = new CanaryConflict({
          message: `the canary of ${model} changed while it was being written`,
          model
        })
        if (!unanswered) return Effect.fail(conflict)
        return latestOf(model).pipe(
          Effect.flatMap((now) =>
            now !== null && !now.deleted && sameBytes(now.data, value) ? Effect.succeed(now.seq) : Effect.fail(conflict)
          )
        )
      })
    )
  }

  return {
    canary: (model) =>
      latestOf(model).pipe(
        Effect.map((e) => (e === null || e.deleted ? undefined : parseCanaryEntry(model, e.seq, e.data)))
      ),
    writeCanary,
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
  }
}

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
