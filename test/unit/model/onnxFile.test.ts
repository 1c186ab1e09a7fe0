// Reading model.onnx without ONNX Runtime: the protobuf wire reader against protobufjs's encoder, the
// float weights of a graph (raw and float_data, Constant nodes), and refusals for what cannot be served.
import fc from "fast-check"
import { describe, expect, it } from "vitest"
import { checkModelFiles } from "../../../src/model/manifest.js"
import { checkOnnxFiles } from "../../../src/model/onnx/onnxArtifacts.js"
import { readOnnxModel } from "../../../src/model/onnx/onnxFile.js"
import { floatsOf, readFields, readVarint, varintsOf, WireType } from "../../../src/model/onnx/protobuf.js"
import { onnxModel } from "../../helpers/onnx/builder.js"
import { linearRegression, nanWeightModel, slowModel, twoInTwoOut } from "../../helpers/onnx/fixtures.js"
import { GraphProto } from "../../helpers/onnx/schema.js"

describe("protobuf wire reader", () => {
  it("reads varints exactly up to 2^53", () => {
    fc.assert(
      fc.property(fc.maxSafeNat(), (n) => {
        const bytes: Array<number> = []
        let v = n
        do {
          const low = v % 128
          v = Math.floor(v / 128)
          bytes.push(v > 0 ? low | 0x80 : low)
        } while (v > 0)
        expect(readVarint(Uint8Array.from(bytes), 0)).toEqual({ value: n, next: bytes.length })
      })
    )
  })

  it("reads what protobufjs encodes: names, repeated packed int64 and float fields, nested messages", () => {
    const bytes = GraphProto.encode(
      GraphProto.fromObject({
        name: "g",
        initializer: [{ name: "w", dims: [2, 3], dataType: 1, floatData: [1.5, -2, 0, 3, 4, 5] }]
      })
    ).finish()
    const graph = readFields(bytes)
    if (!graph.ok) throw new Error(graph.reason)
    expect(graph.fields.map((f) => f.number)).toEqual([2, 5])
    const init = graph.fields[1]!
    if (init.wire !== WireType.bytes) throw new Error("not bytes")
    const tensor = readFields(init.bytes)
    if (!tensor.ok) throw new Error(tensor.reason)
    expect(varintsOf(tensor.fields.filter((f) => f.number === 1))).toEqual([2, 3])
    expect(Array.from(floatsOf(tensor.fields.filter((f) => f.number === 4))!)).toEqual([1.5, -2, 0, 3, 4, 5])
  })

  it("never throws on any bytes: it gives fields or a reason", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 256 }), (bytes) => {
        const read = readFields(bytes)
        expect(typeof read.ok).toBe("boolean")
        expect(typeof readOnnxModel(bytes).ok).toBe("boolean")
      }),
      { numRuns: 2000 }
    )
  })

  it("refuses a length that runs past the end and obsolete group wire types", () => {
    expect(readFields(Uint8Array.from([0x0a, 0x05, 0x01]))).toEqual({
      ok: false,
      reason: "field 1: 5 bytes declared at byte 2, 1 left"
    })
    expect(readFields(Uint8Array.from([0x0b])).ok).toBe(false)
  })
})

describe("readOnnxModel", () => {
  it("finds every float32 weight, raw_data and float_data alike, with its values", () => {
    const spec = {
      ...twoInTwoOut(),
      initializers: [
        { name: "raw", dims: [2], float32: [1, 2] },
        { name: "listed", dims: [3], float32: [3, 4, 5], asFloatData: true },
        { name: "axes", dims: [1], int64: [1] }
      ]
    }
    const read = readOnnxModel(onnxModel(spec))
    if (!read.ok) throw new Error(read.reason)
    expect(read.model.irVersion).toBe(8)
    expect(read.model.opsets).toEqual([{ domain: "", version: 13 }])
    expect(read.model.weights.map((w) => [w.name, Array.from(w.values())])).toEqual([
      ["raw", [1, 2]],
      ["listed", [3, 4, 5]]
    ])
  })

  it("reads the value of a Constant node as a weight", () => {
    const spec = {
      ...linearRegression(),
      nodes: [
        {
          op: "Constant",
          inputs: [],
          outputs: ["c"],
          attributes: { value: { tensor: { name: "", dims: [2], float32: [7, Number.POSITIVE_INFINITY] } } }
        },
        ...linearRegression().nodes
      ]
    }
    const read = readOnnxModel(onnxModel(spec))
    if (!read.ok) throw new Error(read.reason)
    expect(read.model.weights.map((w) => [w.name, Array.from(w.values())])).toEqual([["c", [7, Infinity]]])
  })

  it("leaves the subgraphs of Loop and If to ONNX Runtime: only the main graph's weights", () => {
    const read = readOnnxModel(onnxModel(slowModel(4)))
    if (!read.ok) throw new Error(read.reason)
    expect(read.model.weights.map((w) => [w.name, w.count])).toEqual([["W", 16]])
  })

  it("refuses weights kept in an external file, naming the initializer", () => {
    const spec = { ...nanWeightModel(), initializers: [{ name: "W", dims: [2, 1], float32: [1, 2], external: true }] }
    const read = readOnnxModel(onnxModel(spec))
    expect(read).toEqual({
      ok: false,
      reason:
        'initializer "W" keeps its data in an external file; modelbus serves models whose weights are inside model.onnx'
    })
  })

  it("refuses raw data whose size does not match the dims", () => {
    const bytes = onnxModel({ ...nanWeightModel(), initializers: [{ name: "W", dims: [3, 1], float32: [1, 2] }] })
    const read = readOnnxModel(bytes)
    expect(read.ok).toBe(false)
    expect(!read.ok && read.reason).toBe('tensor "W" of dims [3, 1] holds 8 bytes of raw data')
  })

  it("refuses bytes that are no ONNX model: no ir_version or no graph", () => {
    const json = new TextEncoder().encode('{"modelTopology": {}}')
    expect(readOnnxModel(json).ok).toBe(false)
    expect(readOnnxModel(new Uint8Array(0))).toEqual({
      ok: false,
      reason: "model.onnx is not an ONNX model: it has no ir_version"
    })
  })
})

describe("checkModelFiles on ONNX models", () => {
  const bytes = onnxModel(linearRegression())

  it("passes model.onnx alone within the limit", () => {
    expect(checkModelFiles(new Map([["model.onnx", bytes]]))).toBeUndefined()
  })

  it("refuses other files beside it, model.json beside it, a size over the limit and a file that is not ONNX", () => {
    expect(
      checkOnnxFiles(
        new Map([
          ["model.onnx", bytes],
          ["notes.txt", new Uint8Array(1)]
        ]),
        2 ** 20
      )?.message
    ).toBe(
      "an ONNX model is model.onnx alone; this one also holds other files: expected model.onnx, received notes.txt"
    )
    expect(
      checkModelFiles(
        new Map([
          ["model.onnx", bytes],
          ["model.json", new Uint8Array(2)]
        ])
      )?.message
    ).toBe("the model holds both model.json and model.onnx: expected one of them, received both")
    expect(checkModelFiles(new Map([["model.onnx", bytes]]), { maxBytes: 10 })?.message).toBe(
      `the model's files are too large: expected at most 10 bytes, received ${bytes.byteLength} bytes`
    )
    expect(checkModelFiles(new Map([["model.onnx", Uint8Array.from([0xff, 0xff])]]))?.message).toContain(
      "model.onnx cannot be served: expected an ONNX model with its weights inside, received model.onnx is not a protobuf message"
    )
  })
})
