// The JetStream buckets of a deployment (model versions, artifacts, live supervisors): their names
// from the subject prefix, how many replicas they get on a cluster, and raising an existing bucket's.
import { jetstreamManager } from "@nats-io/jetstream"
import type { NatsConnection, ServerInfo } from "@nats-io/transport-node"
import * as Effect from "effect/Effect"
import { messageOf } from "../protocol/values.js"

/** Bucket names of a deployment: the prefix with every character a bucket name cannot hold as `_`. */
export const bucketNames = (prefix: string) => {
  const base = prefix.replace(/[^A-Za-z0-9_-]/g, "_")
  return { models: `${base}_models`, artifacts: `${base}_artifacts`, supervisors: `${base}_supervisors` } as const
}

/** The stream behind a KV bucket and behind an Object Store bucket. */
export const kvStream = (bucket: string) => `KV_${bucket}`
export const objectStream = (bucket: string) => `OBJ_${bucket}`

/** Replicas when the config sets none: 3 on a cluster of at least 3 servers, else 1 (R1 is all a single server can hold). */
export const autoReplicas = (info: ServerInfo | undefined): number =>
  info?.cluster !== undefined && (info.connect_urls?.length ?? 0) >= 3 ? 3 : 1

/**
 * Raises the stream's replicas to `want` when it has fewer (a bucket made before the cluster grew);
 * fails with the reason and the command that does it by hand when the server refuses.
 */
export const raiseReplicas = (nc: NatsConnection, stream: string, want: number): Effect.Effect<number, string> =>
  Effect.tryPromise({
    try: async () => {
      const jsm = await jetstreamManager(nc, { timeout: 5_000 })
      const info = await jsm.streams.info(stream)
      if (info.config.num_replicas >= want) return info.config.num_replicas
      const updated = await jsm.streams.update(stream, { ...info.config, num_replicas: want })
      return updated.config.num_replicas
    },
    catch: (cause) =>
      `cannot raise ${stream} to ${want} replicas (${messageOf(cause)}); raise it with \`nats stream edit ${stream} --replicas ${want}\`, or set registry.replicas to what the cluster can hold`
  })
