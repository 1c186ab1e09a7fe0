// ONNX Runtime for this process, imported on first use only (TF.js-only actors and the CLI never load
// it); a package that cannot load (unsupported platform, missing binary) is a one-line typed error.
import * as Effect from "effect/Effect"
import type * as Ort from "onnxruntime-node"
import { messageOf } from "../../protocol/values.js"
import { BackendUnavailable } from "../errors.js"

export type OnnxRuntime = typeof Ort

/** The backend name ONNX Runtime answers to in errors and reports. */
export const ONNX_BACKEND = "onnxruntime"

let imported: Promise<OnnxRuntime> | undefined

/** The first line of a cause's message (Node's module errors go on with a require stack). */
const firstLine = (cause: unknown): string => messageOf(cause).split("\n")[0]!.trim()

/** Why onnxruntime-node cannot serve here, in one line naming the cause. */
export const unavailableMessage = (cause: unknown): string =>
  `ONNX Runtime (onnxruntime-node) cannot load on ${process.platform}/${process.arch}: ${firstLine(cause)}; ` +
  "ONNX models cannot be served here (TF.js models are unaffected)"

/**
 * onnxruntime-node, imported once per process on first use. A failed import is not cached, so a
 * later call tries again (and fails the same way when the package stays unusable).
 */
export const onnxRuntime: Effect.Effect<OnnxRuntime, BackendUnavailable> = Effect.tryPromise({
  try: () => {
    imported ??= import("onnxruntime-node").then(
      (module) => module as OnnxRuntime,
      (cause: unknown) => {
        imported = undefined
        throw cause
      }
    )
    return imported
  },
  catch: (cause) => new BackendUnavailable({ backend: ONNX_BACKEND, message: unavailableMessage(cause) })
})
