// The Object Store bucket of batch-job bodies too large for one message: opened (or made, with the
// replicas of the batch streams), a body put and read back by name, a job's objects deleted.
import { type ObjectStore, Objm } from "@nats-io/obj"
import type { NatsConnection } from "@nats-io/transport-node"
import * as Effect from "effect/Effect"
import { autoReplicas } from "../nats/buckets.js"
import { batchNames } from "../protocol/batch.js"
import { isJobObject } from "../protocol/batchObjects.js"
import { readObject } from "./download.js"

/**
 * The batch data bucket: made when `create` (3 replicas on a JetStream cluster of at least 3 nodes, else 1,
 * as the batch streams), else opened; undefined when it does not exist and is not to be made.
 */
export const batchData = async (
  nc: NatsConnection,
  prefix: string,
  create: boolean
): Promise<ObjectStore | undefined> => {
  const name = batchNames(prefix).data
  if (create) return new Objm(nc).create(name, { replicas: autoReplicas(nc.info) })
  return new Objm(nc).open(name).catch(() => undefined)
}

/** Stores `bytes` as object `name` (replacing one of that name). */
export const putBody = async (store: ObjectStore, name: string, bytes: Uint8Array): Promise<void> => {
  await store.putBlob({ name }, bytes)
}

/**
 * The bytes of object `name`, or null when it is not there (deleted, or never stored); rejects with the
 * reason when JetStream did not answer (read by direct gets, each retried: registry/download.ts).
 */
export const readBody = (nc: NatsConnection, prefix: string, store: ObjectStore, name: string) =>
  Effect.runPromise(readObject(nc, store, batchNames(prefix).data, name).pipe(Effect.mapError((why) => new Error(why))))

/** Deletes objects `names` (32 at a time); one already gone is fine. */
export const deleteObjects = async (store: ObjectStore, names: ReadonlyArray<string>): Promise<void> => {
  for (let i = 0; i < names.length; i += 32)
    await Promise.all(names.slice(i, i + 32).map((name) => store.delete(name).catch(() => undefined)))
}

/** The names of the objects of `job` that are in the bucket (not deleted). */
export const jobObjects = async (store: ObjectStore, job: string): Promise<Array<string>> =>
  (await store.list()).map((info) => info.name).filter((name) => isJobObject(job, name))
