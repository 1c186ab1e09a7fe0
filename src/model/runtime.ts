// The TensorFlow.js runtime of this process: which backend runs the models (native
// tfjs-node, else WASM, else pure-JS cpu), chosen once, forced by MODELBUS_BACKEND.
import { createRequire } from "node:module"
import path from "node:path"
import * as tf from "@tensorflow/tfjs-core"
// Registers the pure-JS 'cpu' backend, the last fallback; WASM and tfjs-node are imported only when tried.
import "@tensorflow/tfjs-backend-cpu"
import * as Effect from "effect/Effect"
import { messageOf } from "../protocol/values.js"
import { BackendUnavailable } from "./errors.js"

export const BackendName = {
  tensorflow: "tensorflow",
  wasm: "wasm",
  cpu: "cpu"
} as const
export type BackendName = (typeof BackendName)[keyof typeof BackendName]

/** The tfjs-core module every model of this process runs on, and the backend it is set to. */
export interface Runtime {
  readonly tf: typeof tf
  readonly backend: BackendName
}

/** Tried in this order when no backend is forced. */
export const backendPreference: ReadonlyArray<BackendName> = [BackendName.tensorflow, BackendName.wasm, BackendName.cpu]

const backendNames: ReadonlyArray<string> = Object.values(BackendName)

const isBackendName = (value: string): value is BackendName => backendNames.includes(value)

/** The environment variable that forces a backend. */
export const backendVariable = "MODELBUS_BACKEND"

/**
 * The backend forced by `MODELBUS_BACKEND`, or undefined when it is unset or empty
 * (then `initRuntime` picks the best available one).
 */
export const requestedBackend = (
  env: Readonly<Record<string, string | undefined>> = process.env
): Effect.Effect<BackendName | undefined, BackendUnavailable> => {
  const raw = env[backendVariable]?.trim()
  if (raw === undefined || raw === "") return Effect.succeed(undefined)
  const value = raw.toLowerCase()
  if (isBackendName(value)) return Effect.succeed(value)
  return Effect.fail(
    new BackendUnavailable({
      backend: raw,
      message: `${backendVariable}=${JSON.stringify(raw)} is not a backend; use one of ${backendNames.join(", ")}`
    })
  )
}

// A variable specifier keeps TypeScript from resolving a package that may be absent.
const tfjsNodePackage: string = "@tensorflow/tfjs-node"

const activateTensorflow = async (): Promise<void> => {
  try {
    await import(tfjsNodePackage)
  } catch (cause) {
    throw new Error(
      `@tensorflow/tfjs-node is not installed or its libtensorflow could not load (${messageOf(cause)}); ` +
        `its install step downloads libtensorflow, so it needs internet access at install time`
    )
  }
  if (tf.engine().registryFactory.tensorflow === undefined) {
    throw new Error(
      "@tensorflow/tfjs-node loaded but registered no 'tensorflow' backend with this @tensorflow/tfjs-core " +
        "(two copies of @tensorflow/tfjs-core are installed; align their versions)"
    )
  }
  if (!(await tf.setBackend(BackendName.tensorflow))) {
    throw new Error("the 'tensorflow' backend of @tensorflow/tfjs-node failed to initialise")
  }
}

/** The folder holding the installed backend's .wasm binaries, found without any network. */
export const wasmBinariesFolder = (): string => {
  const require = createRequire(import.meta.url)
  return path.dirname(require.resolve("@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm.wasm")) + path.sep
}

const activateWasm = async (): Promise<void> => {
  const wasm = await import("@tensorflow/tfjs-backend-wasm")
  // setWasmPaths must run before the backend first initialises; later calls are unnecessary.
  if (tf.engine().registry.wasm === undefined) wasm.setWasmPaths(wasmBinariesFolder())
  if (!(await tf.setBackend(BackendName.wasm))) {
    throw new Error("the WASM backend failed to initialise (see the warning above)")
  }
}

const activateCpu = async (): Promise<void> => {
  if (!(await tf.setBackend(BackendName.cpu))) {
    throw new Error("the cpu backend failed to initialise")
  }
}

const activators: Record<BackendName, () => Promise<void>> = {
  tensorflow: activateTensorflow,
  wasm: activateWasm,
  cpu: activateCpu
}

// The backend the last successful initRuntime settled on; later calls without a request keep it.
let chosenBackend: BackendName | undefined

const activate = (backend: BackendName): Effect.Effect<Runtime, BackendUnavailable> =>
  Effect.tryPromise({
    try: async () => {
      // Idempotent: a backend already active (and ready) is kept as it is.
      if (tf.getBackend() !== backend) await activators[backend]()
      await tf.ready()
      chosenBackend = backend
      return { tf, backend }
    },
    catch: (cause) =>
      new BackendUnavailable({ backend, message: `backend '${backend}' is unavailable: ${messageOf(cause)}` })
  })

/**
 * Sets up TensorFlow.js for this process. With `requested`, that backend or a
 * BackendUnavailable error; without, the first of tensorflow → wasm → cpu that works.
 * Calling it again returns the backend already active.
 */
export const initRuntime = Effect.fn("Model.initRuntime")(function* (
  requested?: BackendName
): Effect.fn.Return<Runtime, BackendUnavailable> {
  if (requested !== undefined) return yield* activate(requested)
  if (chosenBackend !== undefined) return yield* activate(chosenBackend)
  const failures: Array<string> = []
  for (const backend of backendPreference) {
    const result = yield* Effect.result(activate(backend))
    if (result._tag === "Success") return result.success
    failures.push(result.failure.message)
  }
  return yield* new BackendUnavailable({
    backend: "any",
    message: `no TensorFlow.js backend could start: ${failures.join("; ")}`
  })
})
