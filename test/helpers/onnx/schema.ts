// The part of the ONNX protobuf schema (onnx.proto, IR version 8) the test fixtures write, declared for
// protobufjs: models, graphs, nodes, attributes, tensors and value infos, with onnx.proto's field numbers.
import protobuf from "protobufjs"

/** onnx.proto's TensorProto.DataType values the fixtures use. */
export const OnnxDataType = { float: 1, int32: 6, int64: 7, bool: 9, double: 11 } as const
export type OnnxDataType = (typeof OnnxDataType)[keyof typeof OnnxDataType]

/** onnx.proto's AttributeProto.AttributeType values the fixtures use. */
export const AttributeType = { float: 1, int: 2, string: 3, tensor: 4, graph: 5, floats: 6, ints: 7 } as const

const field = (id: number, type: string, rule?: "repeated") => ({ id, type, ...(rule === undefined ? {} : { rule }) })

const root = protobuf.Root.fromJSON({
  nested: {
    onnx: {
      nested: {
        OperatorSetIdProto: { fields: { domain: field(1, "string"), version: field(2, "int64") } },
        TensorShapeProto: {
          fields: { dim: field(1, "Dimension", "repeated") },
          nested: {
            Dimension: {
              oneofs: { value: { oneof: ["dimValue", "dimParam"] } },
              fields: { dimValue: field(1, "int64"), dimParam: field(2, "string") }
            }
          }
        },
        TypeProto: {
          oneofs: { value: { oneof: ["tensorType", "sequenceType"] } },
          fields: { tensorType: field(1, "Tensor"), sequenceType: field(4, "Sequence") },
          nested: {
            Tensor: { fields: { elemType: field(1, "int32"), shape: field(2, "TensorShapeProto") } },
            Sequence: { fields: { elemType: field(1, "TypeProto") } }
          }
        },
        ValueInfoProto: { fields: { name: field(1, "string"), type: field(2, "TypeProto") } },
        TensorProto: {
          fields: {
            dims: field(1, "int64", "repeated"),
            dataType: field(2, "int32"),
            floatData: field(4, "float", "repeated"),
            int32Data: field(5, "int32", "repeated"),
            int64Data: field(7, "int64", "repeated"),
            name: field(8, "string"),
            rawData: field(9, "bytes"),
            dataLocation: field(14, "int32")
          }
        },
        AttributeProto: {
          fields: {
            name: field(1, "string"),
            f: field(2, "float"),
            i: field(3, "int64"),
            s: field(4, "bytes"),
            t: field(5, "TensorProto"),
            g: field(6, "GraphProto"),
            floats: field(7, "float", "repeated"),
            ints: field(8, "int64", "repeated"),
            type: field(20, "int32")
          }
        },
        NodeProto: {
          fields: {
            input: field(1, "string", "repeated"),
            output: field(2, "string", "repeated"),
            name: field(3, "string"),
            opType: field(4, "string"),
            attribute: field(5, "AttributeProto", "repeated"),
            domain: field(7, "string")
          }
        },
        GraphProto: {
          fields: {
            node: field(1, "NodeProto", "repeated"),
            name: field(2, "string"),
            initializer: field(5, "TensorProto", "repeated"),
            input: field(11, "ValueInfoProto", "repeated"),
            output: field(12, "ValueInfoProto", "repeated")
          }
        },
        ModelProto: {
          fields: {
            irVersion: field(1, "int64"),
            producerName: field(2, "string"),
            producerVersion: field(3, "string"),
            graph: field(7, "GraphProto"),
            opsetImport: field(8, "OperatorSetIdProto", "repeated")
          }
        }
      }
    }
  }
})

export const ModelProto = root.lookupType("onnx.ModelProto")
export const GraphProto = root.lookupType("onnx.GraphProto")
