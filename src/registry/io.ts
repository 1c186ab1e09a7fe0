// The registry's plumbing: object names of bundles, JetStream calls as Effects whose failure is
// RegistryUnavailable, the retry policy of reads, and a bundle as a stream of upload chunks.
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Schedule from "effect/Schedule"
import { messageOf } from "../protocol/values.js"
import { RegistryUnavailable } from "./errors.js"

/**
 * A read of what a version's entry names (its artifacts: written before the entry) that finds nothing
 * is tried for up to 20 s, 250 ms apart doubling to 2 s: a stream replica that answers reads (direct
 * gets) may be a node that restarted a moment ago and is still catching up, as long as an election.
 */
export const LAGGING_READ_RETRIES = Schedule.exponential("250 millis").pipe(
  Schedule.modifyDelay(({ duration }) => Effect.succeed(Duration.min(duration, Duration.seconds(2)))),
  Schedule.upTo({ times: 13 })
)

export const objectName = (model: string, digest: string) => `${model}/${digest.replace(/^sha256:/, "")}`

export const unavailable = (what: string) => (error: unknown) =>
  new RegistryUnavailable({ message: `registry ${what} failed: ${messageOf(error)}` })

export const attempt = <A>(what: string, run: () => Promise<A>) =>
  Effect.tryPromise({ try: run, catch: unavailable(what) })

/** The bytes as a stream of `size`-byte chunks for an Object Store upload; `onProgress` sees each. */
export const chunks = (bytes: Uint8Array, size: number, onProgress?: (sent: number, total: number) => void) => {
  let offset = 0
  return new ReadableStream<Uint8Array>({
    pull(controller) {
      if (offset >= bytes.byteLength) return controller.close()
      const chunk = bytes.subarray(offset, Math.min(offset + size, bytes.byteLength))
      offset += chunk.byteLength
      controller.enqueue(chunk)
      onProgress?.(offset, bytes.byteLength)
    }
  })
}
