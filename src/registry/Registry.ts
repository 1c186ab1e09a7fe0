// The model registry on JetStream: a KV bucket with each model's current version (and history),
// an Object Store bucket with each version's artifact bundle, compare-and-swap publishing.
import { type KV, Kvm, KvWatchInclude } from "@nats-io/kv"
import { type ObjectStore, Objm } from "@nats-io/obj"
import type { NatsConnection } from "@nats-io/transport-node"
import * as Effect from "effect/Effect"
import * as Result from "effect/Result"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import type { ModelFiles } from "../model/artifacts.js"
import { type ArtifactLimits, DEFAULT_MAX_ARTIFACT_BYTES } from "../model/manifest.js"
import { autoReplicas, bucketNames, kvStream, objectStream, raiseReplicas } from "../nats/buckets.js"
import { checkJetStream, clusterNodes } from "../nats/jetstream.js"
import { isModelName, subjects } from "../protocol/subjects.js"
import { messageOf } from "../protocol/values.js"
import { digestOf } from "./bundle.js"
import { type CanaryEntries, canaryEntries } from "./canaryEntries.js"
import { readHistory, readLatest, readObject } from "./download.js"
import { attemptOn, DEFAULT_PATIENCE_MS, isFinal, throughElections } from "./elections.js"
import { parseEntry } from "./entries.js"
import { type ArtifactCorrupt, RegistryUnavailable, VersionConflict, type VersionNotFound } from "./errors.js"
import { fetchChecked } from "./fetch.js"
import { chunks, objectName, unavailable } from "./io.js"
import { type ModelVersion, unreferencedDigests, wholeHistory } from "./versions.js"

/** Versions kept per model (history of the KV key, and their artifacts), at most 64. */
export const DEFAULT_RETENTION = 10

export interface Registry extends CanaryEntries {
  /** The model's current version and its KV revision, if it has one. */
  readonly current: (
    model: string
  ) => Effect.Effect<{ readonly entry: ModelVersion; readonly revision: number } | undefined, RegistryUnavailable>
  /** Every kept version of the model, oldest first. */
  readonly history: (model: string) => Effect.Effect<ReadonlyArray<ModelVersion>, RegistryUnavailable>
  /** Names of the models the registry knows. */
  readonly models: () => Effect.Effect<ReadonlyArray<string>, RegistryUnavailable>
  /** Stores a bundle (if not stored yet) and returns its digest; `onProgress` sees bytes sent. */
  readonly storeArtifacts: (
    model: string,
    bundle: Uint8Array,
    onProgress?: (sent: number, total: number) => void
  ) => Effect.Effect<string, RegistryUnavailable>
  /** Downloads a version's bundle and checks it against the recorded digest before anything loads it. */
  readonly fetchArtifacts: (
    model: string,
    entry: ModelVersion
  ) => Effect.Effect<ModelFiles, ArtifactCorrupt | VersionNotFound | RegistryUnavailable>
  /** Moves the model to `entry` if its revision is still `expectedRevision` (undefined: no entry yet). */
  readonly publish: (
    model: string,
    entry: ModelVersion,
    expectedRevision: number | undefined
  ) => Effect.Effect<number, VersionConflict | RegistryUnavailable>
  /**
   * The versions of the model published after now. Watching starts before this returns (none is
   * missed after it) and stops when the scope closes; consume the stream in a fiber of that scope.
   */
  readonly watch: (
    model: string
  ) => Effect.Effect<Stream.Stream<ModelVersion, RegistryUnavailable>, RegistryUnavailable, Scope.Scope>
  /** Deletes artifacts that no kept version refers to; returns how many. */
  readonly prune: (model: string) => Effect.Effect<number, RegistryUnavailable>
  /** The size limit artifacts are checked against before anything loads them. */
  readonly limits: ArtifactLimits
  /**
   * Stores the training body of a fit too large for one message as an object of its own (`fit/<model>/…`,
   * never pruned with the model's artifacts); returns its name.
   */
  readonly storeFitData: (
    model: string,
    body: Uint8Array,
    onProgress?: (sent: number, total: number) => void
  ) => Effect.Effect<string, RegistryUnavailable>
  /** A stored training body (null when it is gone), refused past the artifact size limit before it is read. */
  readonly fetchFitData: (name: string) => Effect.Effect<Uint8Array | null, RegistryUnavailable>
  readonly deleteFitData: (name: string) => Effect.Effect<void, RegistryUnavailable>
}

export interface RegistryOptions {
  readonly prefix: string
  /** Versions kept per model (default 10, at most 64). */
  readonly retention?: number
  /** Replicas of the buckets' streams when they are created (default: 3 on a cluster of ≥ 3 servers, else 1). */
  readonly replicas?: number
  /** Raise buckets that exist with fewer replicas (what a supervisor does at start). */
  readonly raiseReplicas?: boolean
  /** Artifacts larger than this are refused before they are downloaded or loaded (default 1 GiB). */
  readonly maxArtifactBytes?: number
  /** How long one registry call keeps trying while JetStream elects leaders (default 20 s). */
  readonly patienceMs?: number
}

/** Opens (creating if needed) the registry buckets; RegistryUnavailable when JetStream is off. */
export const openRegistry = (nc: NatsConnection, options: RegistryOptions) =>
  Effect.gen(function* () {
    const patience = options.patienceMs ?? DEFAULT_PATIENCE_MS
    const attempt = attemptOn(nc, patience)
    clusterNodes(nc) // the cluster's size, as seen before any loss
    yield* throughElections(nc, "check", checkJetStream(nc), patience, (why) =>
      isFinal(why)
        ? new RegistryUnavailable({ message: `JetStream refused this account: ${why}` })
        : new RegistryUnavailable({
            message: `no JetStream on this NATS server (${why}): start nats-server with -js (or a jetstream {} block in its config) to use model updates; serving from the config's path works without it`,
            reason: "absent"
          })
    )
    const names = bucketNames(options.prefix)
    const history = Math.min(64, Math.max(1, options.retention ?? DEFAULT_RETENTION))
    const create = (replicas: number) =>
      Effect.all([
        attempt("KV bucket", () => new Kvm(nc).create(names.models, { history, replicas })),
        attempt("object store", () => new Objm(nc).create(names.artifacts, { replicas })),
        Effect.succeed(replicas)
      ])
    // An explicit replica count is required; the automatic one falls back to 1 where the cluster's
    // JetStream cannot place 3 (fewer JetStream servers than NATS servers).
    const auto = autoReplicas(nc.info)
    const [kv, store, replicas]: [KV, ObjectStore, number] =
      options.replicas === undefined && auto > 1
        ? yield* create(auto).pipe(Effect.catch(() => create(1)))
        : yield* create(options.replicas ?? auto)
    if (options.raiseReplicas === true) {
      for (const stream of [kvStream(names.models), objectStream(names.artifacts)]) {
        yield* raiseReplicas(nc, stream, replicas).pipe(
          Effect.mapError((message) => new RegistryUnavailable({ message: `registry: ${message}` }))
        )
      }
    }
    const versions = subjects(options.prefix).versions
    return makeRegistry(
      nc,
      patience,
      kv,
      store,
      { maxBytes: options.maxArtifactBytes ?? DEFAULT_MAX_ARTIFACT_BYTES },
      {
        download: (name) => readObject(nc, store, names.artifacts, name),
        latest: (key) => readLatest(nc, names.models, key),
        history: (model) => readHistory(nc, names.models, model),
        announce: (model, version) => {
          if (!nc.isClosed()) nc.publish(versions(model), JSON.stringify({ version }))
        }
      }
    )
  })

/** What the registry reads and says without a JetStream consumer (see download.ts). */
interface Reads {
  readonly download: (name: string) => Effect.Effect<Uint8Array | null, string>
  readonly history: (
    model: string
  ) => Effect.Effect<ReadonlyArray<{ readonly seq: number; readonly data: Uint8Array }>, string>
  /** A key's entry (a model's, or its canary's) as the stream's leader has it (a replica catching up after a restart may lag). */
  readonly latest: (
    key: string
  ) => Promise<{ readonly seq: number; readonly data: Uint8Array; readonly deleted: boolean } | null>
  /** Tells the replicas on the bus that `model` moved to `version`. */
  readonly announce: (model: string, version: number) => void
}

const makeRegistry = (
  nc: NatsConnection,
  patience: number,
  kv: KV,
  store: ObjectStore,
  limits: ArtifactLimits,
  reads: Reads
): Registry => {
  const attempt = attemptOn(nc, patience)
  const maxBytes = limits.maxBytes ?? DEFAULT_MAX_ARTIFACT_BYTES
  /**
   * Read from the stream's leader, as the compare-and-swap that follows it is judged. A malformed
   * current entry is refused (no version can follow it until someone publishes a valid one).
   */
  const current = (model: string) =>
    attempt("read", () => reads.latest(model)).pipe(
      Effect.flatMap((e) => {
        if (e === null || e.deleted) return Effect.succeed(undefined)
        const entry = parseEntry(model, e.seq, e.data)
        return entry.ok
          ? Effect.succeed({ entry: entry.value, revision: e.seq })
          : Effect.fail(new RegistryUnavailable({ message: entry.reason }))
      })
    )

  /** Malformed entries are left out of the history (and logged). */
  const history = (model: string) =>
    throughElections(
      nc,
      "history",
      reads.history(model),
      patience,
      (why) => new RegistryUnavailable({ message: `registry history failed: ${why}` })
    ).pipe(
      Effect.map((values) => {
        const versions: Array<ModelVersion> = []
        const skipped: Array<string> = []
        for (const { seq, data } of values) {
          const entry = parseEntry(model, seq, data)
          if (entry.ok) versions.push(entry.value)
          else skipped.push(entry.reason)
        }
        return { versions: versions.sort((a, b) => a.version - b.version), skipped }
      }),
      Effect.tap(({ skipped }) => Effect.forEach(skipped, (reason) => Effect.logWarning(`skipped: ${reason}`))),
      Effect.map(({ versions }) => versions)
    )

  const fetchArtifacts = fetchChecked(store, reads.download, limits)

  // Tried through elections: a try whose write landed but whose answer was lost meets its own entry
  // on the next try (the compare-and-swap then fails), and that is success, not a conflict.
  const publish = (model: string, entry: ModelVersion, expectedRevision: number | undefined) => {
    // a try that failed without an answer (a timeout): it may have landed
    let unanswered = false
    return throughElections(
      nc,
      "publish",
      Effect.tryPromise({
        try: () => {
          const value = new TextEncoder().encode(JSON.stringify(entry))
          return expectedRevision === undefined ? kv.create(model, value) : kv.update(model, value, expectedRevision)
        },
        catch: (error) => error
      }).pipe(
        Effect.tapError((error) =>
          Effect.sync(() => {
            if (!isFinal(error)) unanswered = true
          })
        )
      ),
      patience,
      (error) => error
    ).pipe(
      Effect.catch((error) => {
        if (error instanceof RegistryUnavailable) return Effect.fail(error)
        if (!/wrong last sequence|key exists/i.test(messageOf(error))) return Effect.fail(unavailable("publish")(error))
        return current(model).pipe(
          Effect.flatMap((now) =>
            unanswered &&
            now !== undefined &&
            now.entry.version === entry.version &&
            now.entry.digest === entry.digest &&
            now.entry.createdAt === entry.createdAt
              ? Effect.succeed(now.revision)
              : Effect.fail(
                  new VersionConflict({
                    message: `model "${model}" moved to version ${now?.entry.version ?? "?"} while this update expected version ${entry.version - 1}`,
                    model,
                    expected: entry.version - 1,
                    actual: now?.entry.version ?? 0
                  })
                )
          )
        )
      }),
      Effect.tap(() => Effect.sync(() => reads.announce(model, entry.version)))
    )
  }

  return {
    current,
    history,
    models: () =>
      attempt("list", async () => {
        const names: Array<string> = []
        // other keys (a model's canary) are not models
        for await (const key of await kv.keys()) if (isModelName(key)) names.push(key)
        return names.sort()
      }),
    storeArtifacts: (model, bundle, onProgress) =>
      attempt("upload", async () => {
        const digest = digestOf(bundle)
        const name = objectName(model, digest)
        const existing = await store.info(name)
        if (existing === null || existing.deleted) {
          await store.put({ name, options: { max_chunk_size: 128 * 1024 } }, chunks(bundle, 128 * 1024, onProgress))
        } else {
          onProgress?.(bundle.byteLength, bundle.byteLength)
        }
        return digest
      }),
    fetchArtifacts,
    publish,
    watch: (model) =>
      Effect.acquireRelease(
        attempt("watch", () => kv.watch({ key: model, include: KvWatchInclude.UpdatesOnly })),
        (watcher) => Effect.sync(() => watcher.stop())
      ).pipe(
        Effect.map((watcher) =>
          Stream.fromAsyncIterable(watcher, unavailable("watch")).pipe(
            Stream.filter((e) => e.operation === "PUT"),
            Stream.map((e) => parseEntry(model, e.revision, e.value)),
            Stream.tap((entry) => (entry.ok ? Effect.void : Effect.logWarning(`ignored: ${entry.reason}`))),
            Stream.filterMap((entry) => (entry.ok ? Result.succeed(entry.value) : Result.failVoid))
          )
        )
      ),
    prune: (model) =>
      Effect.gen(function* () {
        const kept = yield* history(model)
        if (kept.length === 0) return 0
        // Deleting is done only on the whole history: a read spread over replicas still catching up after
        // a node loss can miss entries, and an artifact only a missed version refers to would go with them.
        const now = yield* current(model)
        const keeps = (yield* attempt("KV status", () => kv.status())).history
        if (now === undefined || !wholeHistory(kept, now.entry.version, keeps)) return 0
        const stored = (yield* attempt("list artifacts", () => store.list()))
          .filter((o) => !o.deleted && o.name.startsWith(`${model}/`))
          .map((o) => `sha256:${o.name.slice(model.length + 1)}`)
        const doomed = unreferencedDigests(kept, stored)
        yield* Effect.forEach(doomed, (d) => attempt("delete", () => store.delete(objectName(model, d))), {
          discard: true
        })
        return doomed.length
      }),
    limits: { maxBytes },
    storeFitData: (model, body, onProgress) =>
      attempt("upload of training data", async () => {
        const name = `fit/${model}/${Date.now().toString(36)}${Math.random().toString(36).slice(2, 10)}`
        await store.put({ name, options: { max_chunk_size: 128 * 1024 } }, chunks(body, 128 * 1024, onProgress))
        return name
      }),
    fetchFitData: (name) =>
      Effect.gen(function* () {
        const info = yield* attempt("training data info", () => store.info(name))
        if (info === null || info.deleted) return null
        if (info.size > maxBytes)
          return yield* new RegistryUnavailable({
            message: `training data ${name} is ${info.size} bytes; at most ${maxBytes} are read (the registry's artifact size limit)`
          })
        return yield* reads
          .download(name)
          .pipe(Effect.mapError((why) => new RegistryUnavailable({ message: `reading training data ${name}: ${why}` })))
      }),
    deleteFitData: (name) => attempt("delete of training data", () => store.delete(name)).pipe(Effect.asVoid),
    ...canaryEntries({ kv, nc, patienceMs: patience, latest: reads.latest })
  }
}
