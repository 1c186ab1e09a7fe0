// Backend choice: MODELBUS_BACKEND parsing, the tensorflow → wasm → cpu fallback, forced
// backends that are missing, and initialising more than once.
import { Effect } from "effect"
import { describe, expect, it } from "vitest"
import { BackendUnavailable } from "../../../src/model/errors.js"
import { initRuntime, requestedBackend } from "../../../src/model/runtime.js"

/** Whether @tensorflow/tfjs-node resolves and its native binding loads on this machine. */
const tfjsNodeLoads = async (): Promise<boolean> => {
  const specifier: string = "@tensorflow/tfjs-node"
  try {
    await import(specifier)
    return true
  } catch {
    return false
  }
}

describe("requestedBackend", () => {
  it("is undefined when MODELBUS_BACKEND is unset or empty", async () => {
    expect(await Effect.runPromise(requestedBackend({}))).toBeUndefined()
    expect(await Effect.runPromise(requestedBackend({ MODELBUS_BACKEND: "" }))).toBeUndefined()
  })

  it("accepts the three backend names, ignoring case and spaces", async () => {
    expect(await Effect.runPromise(requestedBackend({ MODELBUS_BACKEND: "wasm" }))).toBe("wasm")
    expect(await Effect.runPromise(requestedBackend({ MODELBUS_BACKEND: " CPU " }))).toBe("cpu")
    expect(await Effect.runPromise(requestedBackend({ MODELBUS_BACKEND: "tensorflow" }))).toBe("tensorflow")
  })

  it("rejects any other value with BackendUnavailable naming the allowed values", async () => {
    const error = await Effect.runPromise(Effect.flip(requestedBackend({ MODELBUS_BACKEND: "webgpu" })))
    expect(error).toBeInstanceOf(BackendUnavailable)
    expect(error._tag).toBe("BackendUnavailable")
    expect(error.backend).toBe("webgpu")
    expect(error.message).toContain("tensorflow, wasm, cpu")
  })
})

describe("initRuntime", () => {
  // Runs first in this file's process, before anything set a backend.
  it("picks tensorflow when tfjs-node loads, else falls back to wasm", async () => {
    const expected = (await tfjsNodeLoads()) ? "tensorflow" : "wasm"
    const runtime = await Effect.runPromise(initRuntime())
    expect(runtime.backend).toBe(expected)
    expect(runtime.tf.getBackend()).toBe(expected)
  })

  it("is idempotent: a second call keeps the backend and tensors stay usable", async () => {
    const first = await Effect.runPromise(initRuntime())
    const kept = first.tf.tensor1d([1, 2, 3])
    const second = await Effect.runPromise(initRuntime())
    expect(second.backend).toBe(first.backend)
    expect(second.tf).toBe(first.tf)
    expect(Array.from(await kept.data())).toEqual([1, 2, 3])
    kept.dispose()
    const again = await Effect.runPromise(initRuntime(first.backend))
    expect(again.backend).toBe(first.backend)
  })

  it("MODELBUS_BACKEND=tensorflow without a loadable tfjs-node is BackendUnavailable", async () => {
    const requested = await Effect.runPromise(requestedBackend({ MODELBUS_BACKEND: "tensorflow" }))
    const program = initRuntime(requested)
    if (await tfjsNodeLoads()) {
      expect((await Effect.runPromise(program)).backend).toBe("tensorflow")
      return
    }
    const error = await Effect.runPromise(Effect.flip(program))
    expect(error).toBeInstanceOf(BackendUnavailable)
    expect(error.backend).toBe("tensorflow")
    expect(error.message).toContain("@tensorflow/tfjs-node is not installed or its libtensorflow could not load")
    expect(error.message).toContain("downloads libtensorflow")
  })

  it("a forced backend is used, and forcing another one switches", async () => {
    const cpu = await Effect.runPromise(initRuntime("cpu"))
    expect(cpu.backend).toBe("cpu")
    expect(cpu.tf.getBackend()).toBe("cpu")
    const wasm = await Effect.runPromise(initRuntime("wasm"))
    expect(wasm.backend).toBe("wasm")
    expect(wasm.tf.getBackend()).toBe("wasm")
    expect(Array.from(await wasm.tf.add(wasm.tf.scalar(2), wasm.tf.scalar(3)).data())).toEqual([5])
  })
})
