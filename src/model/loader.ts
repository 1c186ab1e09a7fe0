// Loading a model's files with the runtime they call for: model.onnx on ONNX Runtime, model.json on
// TensorFlow.js. Each runtime is imported on first use, so a process pays only for the ones it serves.
import path from "node:path"
import * as Effect from "effect/Effect"
import { messageOf } from "../protocol/values.js"
import { type ModelFiles, readModelFolder } from "./artifacts.js"
import { type BackendUnavailable, ModelLoadFailed } from "./errors.js"
import type { LoadedModel, RuntimeOptions } from "./loadedModel.js"
import { ArtifactCheckFailed, type ArtifactLimits, checkModelFiles } from "./manifest.js"
import { onnxModelFile } from "./onnx/onnxFile.js"

export type { LoadedModel, ModelWeight, RuntimeOptions } from "./loadedModel.js"
export type { ModelSignature, TensorSpec } from "./specs.js"

/** The runtimes a model folder can call for. */
export const ModelRuntime = { tfjs: "tfjs", onnx: "onnx" } as const
export type ModelRuntime = (typeof ModelRuntime)[keyof typeof ModelRuntime]

/** Which runtime serves these files: ONNX Runtime for model.onnx, TensorFlow.js otherwise. */
export const runtimeOf = (files: ModelFiles): ModelRuntime =>
  files.has(onnxModelFile) ? ModelRuntime.onnx : ModelRuntime.tfjs

const loadFailed = (where: string, message: string) => new ModelLoadFailed({ path: where, message })

/**
 * Loads a model from its files in memory (model.onnx, or model.json and its weights), after checking
 * them (paths, dtypes, sizes, `limits`); `where` names it in errors (a folder, or `iris v3`). A TF.js
 * model lands on the backend `initRuntime` chose (run it first); an ONNX model gets its own session.
 */
export const loadModelFiles = Effect.fn("Model.loadFiles")(function* (
  files: ModelFiles,
  where: string,
  limits: ArtifactLimits = {},
  options: RuntimeOptions = {}
): Effect.fn.Return<LoadedModel, ModelLoadFailed | BackendUnavailable> {
  const problem = checkModelFiles(files, limits)
  if (problem !== undefined) return yield* loadFailed(where, `${where}: ${problem.message}`)
  if (runtimeOf(files) === ModelRuntime.onnx) {
    const { loadOnnxFiles } = yield* Effect.promise(() => import("./onnx/onnxLoader.js"))
    return yield* loadOnnxFiles(files, where, options)
  }
  const { loadTfjsFiles } = yield* Effect.promise(() => import("./tfjsLoader.js"))
  return yield* loadTfjsFiles(files, where)
})

/**
 * Loads the model in folder `dir` (model.onnx, or model.json and its weight files; read and checked
 * first) with the runtime it calls for.
 */
export const loadModel = Effect.fn("Model.load")(function* (
  dir: string,
  limits: ArtifactLimits = {},
  options: RuntimeOptions = {}
): Effect.fn.Return<LoadedModel, ModelLoadFailed | BackendUnavailable> {
  const folder = path.resolve(dir)
  const files = yield* Effect.tryPromise({
    try: () => readModelFolder(folder, limits),
    catch: (cause) =>
      loadFailed(folder, cause instanceof ArtifactCheckFailed ? `${folder}: ${cause.message}` : messageOf(cause))
  })
  return yield* loadModelFiles(files, folder, limits, options)
})
