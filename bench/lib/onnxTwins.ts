// The bench models' ONNX twins: the Iris MLP and the CNN written as model.onnx from their TF.js weights
// (same input and output names; the CNN transposes NHWC to ONNX's NCHW and back), built on first use.
import { existsSync } from "node:fs"
import { readFile } from "node:fs/promises"
import { join } from "node:path"
import { writeOnnxModel } from "../../test/helpers/onnx/builder.js"
import { denseTwinOf } from "../../test/helpers/onnx/fixtures.js"
import { ensureCnnModel } from "./cnnModel.js"
import { CNN_MODEL_DIR, IRIS_MODEL_DIR, ROOT } from "./paths.js"

export const IRIS_ONNX_DIR = join(ROOT, "bench/models/iris-onnx")
export const CNN_ONNX_DIR = join(ROOT, "bench/models/cnn-onnx")

/** The weights of a TF.js model folder with one weights file, by manifest name. */
const tfjsWeights = async (dir: string): Promise<Map<string, { shape: Array<number>; values: Float32Array }>> => {
  const json = JSON.parse(await readFile(join(dir, "model.json"), "utf8"))
  const group = json.weightsManifest[0]
  const bin = await readFile(join(dir, group.paths[0]))
  const out = new Map<string, { shape: Array<number>; values: Float32Array }>()
  let offset = 0
  for (const w of group.weights as Array<{ name: string; shape: Array<number> }>) {
    const count = w.shape.reduce((a, b) => a * b, 1)
    const values = new Float32Array(count)
    new Uint8Array(values.buffer).set(bin.subarray(offset, offset + count * 4))
    out.set(w.name, { shape: w.shape, values })
    offset += count * 4
  }
  return out
}

/** A TF.js conv kernel [h, w, in, out] as ONNX's [out, in, h, w]. */
const ohwiFromHwio = ({ shape, values }: { shape: Array<number>; values: Float32Array }) => {
  const [h, w, i, o] = shape as [number, number, number, number]
  const out = new Float32Array(values.length)
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++)
      for (let c = 0; c < i; c++)
        for (let k = 0; k < o; k++) out[((k * i + c) * h + y) * w + x] = values[((y * w + x) * i + c) * o + k]!
  return { dims: [o, i, h, w], values: out }
}

/** Builds both twins unless they exist; returns their folders. */
export const ensureOnnxTwins = async (): Promise<{ iris: string; cnn: string }> => {
  if (!existsSync(join(IRIS_ONNX_DIR, "model.onnx")))
    await writeOnnxModel(IRIS_ONNX_DIR, await denseTwinOf(IRIS_MODEL_DIR))
  if (!existsSync(join(CNN_ONNX_DIR, "model.onnx"))) {
    await ensureCnnModel(CNN_MODEL_DIR)
    const w = await tfjsWeights(CNN_MODEL_DIR)
    const conv1 = ohwiFromHwio(w.get("conv1/kernel")!)
    const conv2 = ohwiFromHwio(w.get("conv2/kernel")!)
    const dense = w.get("digits/kernel")!
    await writeOnnxModel(CNN_ONNX_DIR, {
      inputs: [{ name: "image", dtype: "float32", shape: ["batch", 28, 28, 1] }],
      outputs: [{ name: "digits", dtype: "float32", shape: ["batch", 10] }],
      nodes: [
        { op: "Transpose", inputs: ["image"], outputs: ["nchw"], attributes: { perm: { ints: [0, 3, 1, 2] } } },
        {
          op: "Conv",
          inputs: ["nchw", "conv1/kernel", "conv1/bias"],
          outputs: ["c1"],
          attributes: { kernel_shape: { ints: [3, 3] } }
        },
        { op: "Relu", inputs: ["c1"], outputs: ["r1"] },
        {
          op: "MaxPool",
          inputs: ["r1"],
          outputs: ["p1"],
          attributes: { kernel_shape: { ints: [2, 2] }, strides: { ints: [2, 2] } }
        },
        {
          op: "Conv",
          inputs: ["p1", "conv2/kernel", "conv2/bias"],
          outputs: ["c2"],
          attributes: { kernel_shape: { ints: [3, 3] } }
        },
        { op: "Relu", inputs: ["c2"], outputs: ["r2"] },
        {
          op: "MaxPool",
          inputs: ["r2"],
          outputs: ["p2"],
          attributes: { kernel_shape: { ints: [2, 2] }, strides: { ints: [2, 2] } }
        },
        { op: "Transpose", inputs: ["p2"], outputs: ["nhwc"], attributes: { perm: { ints: [0, 2, 3, 1] } } },
        { op: "Flatten", inputs: ["nhwc"], outputs: ["flat"], attributes: { axis: { int: 1 } } },
        { op: "MatMul", inputs: ["flat", "digits/kernel"], outputs: ["logits0"] },
        { op: "Add", inputs: ["logits0", "digits/bias"], outputs: ["logits"] },
        { op: "Softmax", inputs: ["logits"], outputs: ["digits"], attributes: { axis: { int: -1 } } }
      ],
      initializers: [
        { name: "conv1/kernel", dims: conv1.dims, float32: conv1.values },
        { name: "conv1/bias", dims: w.get("conv1/bias")!.shape, float32: w.get("conv1/bias")!.values },
        { name: "conv2/kernel", dims: conv2.dims, float32: conv2.values },
        { name: "conv2/bias", dims: w.get("conv2/bias")!.shape, float32: w.get("conv2/bias")!.values },
        { name: "digits/kernel", dims: dense.shape, float32: dense.values },
        { name: "digits/bias", dims: w.get("digits/bias")!.shape, float32: w.get("digits/bias")!.values }
      ]
    })
  }
  return { iris: IRIS_ONNX_DIR, cnn: CNN_ONNX_DIR }
}
