// The checks an ONNX model's files pass before anything loads them: model.onnx alone, within the
// size limit, and readable as an ONNX model whose weights are all inside it.
import type { ArtifactProblem } from "../manifest.js"
import { onnxModelFile, readOnnxModel } from "./onnxFile.js"

const problem = (message: string, expected: string, actual: string): ArtifactProblem => ({
  message: `${message}: expected ${expected}, received ${actual}`,
  expected,
  actual
})

/** The first problem of an ONNX model's files (name → bytes), or undefined. */
export const checkOnnxFiles = (
  files: ReadonlyMap<string, Uint8Array>,
  maxBytes: number
): ArtifactProblem | undefined => {
  const others = [...files.keys()].filter((name) => name !== onnxModelFile)
  if (others.length > 0) {
    return problem(
      `an ONNX model is ${onnxModelFile} alone; this one also holds other files`,
      onnxModelFile,
      others.slice(0, 3).join(", ")
    )
  }
  const bytes = files.get(onnxModelFile)
  if (bytes === undefined) return problem("no model file", onnxModelFile, "none")
  if (bytes.byteLength > maxBytes) {
    return problem("the model's files are too large", `at most ${maxBytes} bytes`, `${bytes.byteLength} bytes`)
  }
  const read = readOnnxModel(bytes)
  if (!read.ok)
    return problem(`${onnxModelFile} cannot be served`, "an ONNX model with its weights inside", read.reason)
  return undefined
}
