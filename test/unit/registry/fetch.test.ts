// Fetching a version's artifacts while the stream replica that answers lags behind the entry that
// named them (a node restarted a moment ago): the read finds nothing for a while, then the bundle.
import type { ObjectInfo, ObjectStore } from "@nats-io/obj"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as TestClock from "effect/testing/TestClock"
import { describe, expect, it } from "vitest"
import { readModelFolder } from "../../../src/model/artifacts.js"
import { digestOf, encodeBundle } from "../../../src/registry/bundle.js"
import { fetchChecked } from "../../../src/registry/fetch.js"
import type { ModelVersion } from "../../../src/registry/versions.js"
import { IRIS_MODEL } from "../../helpers/processes.js"

/** A store whose reads find nothing for the first `misses` calls each (a lagging replica), then the bundle. */
const laggingStore = (bytes: Uint8Array, misses: number) => {
  let infoCalls = 0
  let downloadCalls = 0
  const store = {
    info: async () => (++infoCalls <= misses ? null : ({ size: bytes.length, deleted: false } as ObjectInfo))
  } as unknown as ObjectStore
  const download = () => Effect.sync(() => (++downloadCalls <= misses ? null : bytes))
  return { store, download, calls: () => ({ infoCalls, downloadCalls }) }
}

const versionOf = (bytes: Uint8Array): ModelVersion =>
  ({ version: 2, digest: digestOf(bytes), size: bytes.length }) as unknown as ModelVersion

/** Runs the fetch under TestClock, moving virtual time until it ends. */
const fetchUnderTestClock = (
  store: ObjectStore,
  download: (n: string) => Effect.Effect<Uint8Array | null, string>,
  entry: ModelVersion
) =>
  Effect.runPromise(
    Effect.gen(function* () {
      const fiber = yield* Effect.forkChild(Effect.result(fetchChecked(store, download, {})("iris", entry)))
      for (let s = 0; s < 60 && fiber.pollUnsafe() === undefined; s++) yield* TestClock.adjust(1_000)
      return yield* Fiber.join(fiber)
    }).pipe(Effect.provide(TestClock.layer()))
  )

describe("fetching artifacts from a lagging replica (TestClock)", () => {
  it("waits out a replica that finds the bundle only after 10 s, then loads it", async () => {
    const bytes = encodeBundle(await readModelFolder(IRIS_MODEL))
    // 10 misses each: the reads retried for about 12 s (the old policy gave up after 6 tries, ~8 s)
    const lagging = laggingStore(bytes, 10)
    const result = await fetchUnderTestClock(lagging.store, lagging.download, versionOf(bytes))
    expect(result._tag).toBe("Success")
    expect(lagging.calls()).toEqual({ infoCalls: 11, downloadCalls: 11 })
  })

  it("says VersionNotFound once the bundle is still missing after the patience runs out", async () => {
    const bytes = encodeBundle(await readModelFolder(IRIS_MODEL))
    const lagging = laggingStore(bytes, 1_000)
    const result = await fetchUnderTestClock(lagging.store, lagging.download, versionOf(bytes))
    expect(result._tag).toBe("Failure")
    if (result._tag === "Failure") expect(result.failure._tag).toBe("VersionNotFound")
    expect(lagging.calls().infoCalls).toBe(14)
  })
})
