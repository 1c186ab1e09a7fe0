// Chunk and result bodies of batch work that go through the Object Store: a chunk's body read from the
// object its message names, and a result body too large for one message stored as an object and named.
import { jetstreamManager } from "@nats-io/jetstream"
import type { ObjectStore } from "@nats-io/obj"
import type { NatsConnection } from "@nats-io/transport-node"
import { batchNames, batchSubjects, type ResultBody } from "../protocol/batch.js"
import { goesByObject, OBJECT_HEADER, resultObject } from "../protocol/batchObjects.js"
import { type Encoding, serialize } from "../protocol/codec.js"
import { messageOf } from "../protocol/values.js"
import { batchData, putBody, readBody } from "../registry/batchData.js"

/** A server's max_payload when it did not say (nats-server's default). */
const DEFAULT_MAX_PAYLOAD = 1024 * 1024

/** What a result message carries: its body, and the object holding the full body when it went by object. */
export interface ResultMessage {
  readonly data: Uint8Array
  readonly object: string | undefined
}

/** The batch data bucket of an actor, opened on first use (made when a result needs it). */
export const batchBodies = (nc: NatsConnection, prefix: string) => {
  let opened: Promise<ObjectStore | undefined> | undefined
  let made: Promise<ObjectStore | undefined> | undefined
  const store = (create: boolean): Promise<ObjectStore | undefined> => {
    if (create) {
      made ??= batchData(nc, prefix, true).catch((cause) => {
        made = undefined
        throw cause
      })
      return made
    }
    opened ??= batchData(nc, prefix, false).then((s) => {
      if (s === undefined) opened = undefined
      return s
    })
    return opened
  }
  return {
    /** The object's name when the chunk message names one (header `Modelbus-Object`). */
    objectOf: (headers: { get(key: string): string } | undefined): string | undefined => {
      const name = headers?.get(OBJECT_HEADER)
      return name === undefined || name === "" ? undefined : name
    },
    /** The bytes of object `name`, null when it is gone; rejects when JetStream did not answer. */
    read: async (name: string): Promise<Uint8Array | null> => {
      const s = await store(false)
      return s === undefined ? null : readBody(nc, prefix, s, name)
    },
    /** Whether chunk `chunk` of `job` has a result already (a redelivery of a chunk whose object was deleted after it). */
    hasResult: async (job: string, chunk: number): Promise<boolean> => {
      const jsm = await jetstreamManager(nc)
      try {
        const last = await jsm.streams.getMessage(batchNames(prefix).results, {
          last_by_subj: batchSubjects(prefix).result(job, chunk)
        })
        return last !== null
      } catch (cause) {
        if (/no message found|not found/i.test(messageOf(cause))) return false
        throw cause
      }
    },
    /**
     * The result message of `body`: the body itself when it fits in one message, else the body stored as
     * object `resultObject(job, chunk)` and, in the message, the body without its outputs.
     */
    resultMessage: async (body: ResultBody, encoding: Encoding): Promise<ResultMessage> => {
      const data = serialize(body, encoding)
      if (!goesByObject(data.byteLength, nc.info?.max_payload ?? DEFAULT_MAX_PAYLOAD))
        return { data, object: undefined }
      const object = resultObject(body.job, body.chunk)
      await putBody((await store(true))!, object, data)
      const { outputs: _, ...head } = body
      return { data: serialize(head, encoding), object }
    }
  }
}

export type BatchBodies = ReturnType<typeof batchBodies>
