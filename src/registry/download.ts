// Reading an artifact bundle from the Object Store without a consumer: its info, then each chunk by
// a direct get that any live replica answers, each step retried (a lagging replica's "missing" too).
import { jetstreamManager } from "@nats-io/jetstream"
import type { ObjectStore } from "@nats-io/obj"
import type { NatsConnection } from "@nats-io/transport-node"
import * as Effect from "effect/Effect"
import * as Schedule from "effect/Schedule"
import { kvStream, objectStream } from "../nats/buckets.js"
import { messageOf } from "../protocol/values.js"
import { LAGGING_READ_RETRIES } from "./io.js"

/** Each step (the info, each chunk) is tried up to 6 times, 250 ms apart and doubling. */
const retries = Schedule.exponential("250 millis").pipe(Schedule.upTo({ times: 5 }))

const step = <A>(what: string, run: () => Promise<A>): Effect.Effect<A, string> =>
  Effect.tryPromise({ try: run, catch: (error) => `${what}: ${messageOf(error)}` }).pipe(Effect.retry(retries))

/** What a read of an object's chunks that found one missing fails with while it is tried again from its info. */
const MISSING = "missing" as const

/**
 * The bytes of object `name` in `bucket`, or null when there is no such object; fails with the reason.
 * Chunks are read in order by direct gets (`next_by_subj` from the previous chunk's sequence): every
 * replica of the stream answers those, where a consumer (what `ObjectStore.get` uses) can be placed
 * on a lost node and time out. A chunk found missing sends the read back to the object's info: a
 * replica may lag behind the one that answered the info, and an object put again meanwhile (two
 * replicas seeding one model upload the same bundle) has new chunks and the old ones purged.
 */
export const readObject = (
  nc: NatsConnection,
  store: ObjectStore,
  bucket: string,
  name: string
): Effect.Effect<Uint8Array | null, string> =>
  Effect.gen(function* () {
    const jsm = yield* step("reaching JetStream", () => jetstreamManager(nc, { timeout: 2_000 }))
    const stream = objectStream(bucket)
    let missing = ""
    const read = Effect.gen(function* () {
      const info = yield* step(`reading the info of ${name}`, () => store.info(name))
      if (info === null || info.deleted) return null
      const subject = `$O.${bucket}.C.${info.nuid}`
      const bytes = new Uint8Array(info.size)
      let offset = 0
      let seq = 1
      for (let chunk = 1; chunk <= info.chunks; chunk++) {
        const message = yield* step(`reading chunk ${chunk} of ${info.chunks} of ${name}`, () =>
          jsm.direct.getMessage(stream, { seq, next_by_subj: subject })
        )
        if (message === null) {
          missing = `chunk ${chunk} of ${info.chunks} of ${name} is missing on every replica that answered`
          return yield* Effect.fail(MISSING)
        }
        if (offset + message.data.byteLength > bytes.byteLength) {
          return yield* Effect.fail(`${name} holds more than the ${info.size} bytes its info declares`)
        }
        bytes.set(message.data, offset)
        offset += message.data.byteLength
        seq = message.seq + 1
      }
      if (offset !== bytes.byteLength)
        return yield* Effect.fail(`${name} holds ${offset} bytes; its info declares ${info.size}`)
      return bytes
    })
    return yield* read.pipe(
      Effect.retry({ schedule: LAGGING_READ_RETRIES, while: (why) => why === MISSING }),
      Effect.mapError((why) => (why === MISSING ? missing : why))
    )
  })

/** What a history walk that ended before the leader's last entry, or met fewer entries than it holds, fails with while it is tried again. */
const BEHIND = "behind" as const

/**
 * Every kept value of `key` in KV bucket `bucket` with its revision, oldest first, by direct gets
 * walking the key's subject (`next_by_subj`); delete and purge markers are skipped. A walk that ends
 * before the leader's last entry of the key, or meets fewer entries than the leader holds, met a
 * replica still catching up and is tried again.
 */

export const readHistory = (
  nc: NatsConnection,
  bucket: string,
  key: string
): Effect.Effect<ReadonlyArray<{ readonly seq: number; readonly data: Uint8Array }>, string> =>
  Effect.gen(function* () {
    const jsm = yield* step("reaching JetStream", () => jetstreamManager(nc, { timeout: 2_000 }))
    const subject = `$KV.${bucket}.${key}`
    // The leader's last entry of the key: a walk that ends before it met a replica still catching up.
    const last = yield* step(`reading the last entry of ${key}`, () =>
      jsm.streams.getMessage(kvStream(bucket), { last_by_subj: subject }).catch((error: unknown) => {
        if (/no message found|not found/i.test(messageOf(error))) return null
        throw error
      })
    )
    // How many entries of the key the leader holds: a walk that met fewer skipped some (a replica whose
    // store is being rebuilt can hold the newest entries and not yet the older ones).
    const held = yield* step(`counting the entries of ${key}`, async () => {
      const info = await jsm.streams.info(kvStream(bucket), { subjects_filter: subject })
      return info.state.subjects?.[subject] ?? 0
    })
    const walk = Effect.gen(function* () {
      const values: Array<{ readonly seq: number; readonly data: Uint8Array }> = []
      let seen = 0
      let met = 0
      for (let seq = 1; ; ) {
        const message = yield* step(`reading the history of ${key}`, () =>
          jsm.direct.getMessage(kvStream(bucket), { seq, next_by_subj: subject }).catch((error: unknown) => {
            // No message at or after `seq` on that subject: the walk is over.
            if (/no message found|not found/i.test(messageOf(error))) return null
            throw error
          })
        )
        if (message === null) break
        // a replica whose stream is still being rebuilt can answer with an earlier message than asked for
        if (message.seq < seq) return yield* Effect.fail(BEHIND)
        seen = message.seq
        met++
        const operation = message.header?.get("KV-Operation")
        if (operation !== "DEL" && operation !== "PURGE") values.push({ seq: message.seq, data: message.data })
        seq = message.seq + 1
      }
      if ((last !== null && seen < last.seq) || met < held) return yield* Effect.fail(BEHIND)
      return values
    })
    // direct gets are answered by any replica of the stream: one that restarted a moment ago may not have the newest entries yet
    return yield* walk.pipe(
      Effect.retry({ schedule: LAGGING_READ_RETRIES, while: (why) => why === BEHIND }),
      Effect.mapError((why) =>
        why === BEHIND
          ? `the history of ${key} ends before its last entry (seq ${last?.seq}) or lacks some of its ${held} entries on every replica that answered`
          : why
      )
    )
  })

/** The last entry of `model` in KV `bucket` as the stream's leader has it (the JetStream API, not a direct get), or null. */
export const readLatest = async (nc: NatsConnection, bucket: string, model: string) => {
  const jsm = await jetstreamManager(nc, { timeout: 5_000 })
  const msg = await jsm.streams.getMessage(kvStream(bucket), { last_by_subj: `$KV.${bucket}.${model}` })
  if (msg === null) return null
  const operation = msg.header.get("KV-Operation")
  return { seq: msg.seq, data: msg.data, deleted: operation === "DEL" || operation === "PURGE" }
}
