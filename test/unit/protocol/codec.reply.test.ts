// Replies as an actor encodes them (encodeReply) and a client decodes them (decodeReply):
// single tensors and named maps in msgpack and JSON, and what is not a modelbus reply.
import fc from "fast-check"
import { Packr, unpack } from "msgpackr"
import { describe, expect, it } from "vitest"
import { decodeReply, type Encoding, encodeReply } from "../../../src/protocol/codec.js"
import type { InferReply } from "../../../src/protocol/messages.js"
import type { HostTensor } from "../../../src/protocol/tensor.js"
import {
  anyPlainTensorArb,
  expectTensor,
  hostTensor,
  littleEndianBytes,
  type PlainTensor
} from "./tensorArbitraries.js"

const ENCODINGS: ReadonlyArray<Encoding> = ["msgpack", "json"]
const metaArb = fc.record({
  model: fc.stringMatching(/^[A-Za-z0-9_-]{1,12}$/),
  version: fc.nat(),
  actor: fc.string({ maxLength: 20 })
})

const decodedReply = (bytes: Uint8Array, encoding: Encoding): InferReply => {
  const decoded = decodeReply(bytes, encoding)
  if (decoded.kind !== "reply") throw new Error(`expected a reply, got ${JSON.stringify(decoded)}`)
  return decoded.reply
}

const isSingle = (o: InferReply["outputs"]): o is HostTensor =>
  "dtype" in o && ArrayBuffer.isView((o as HostTensor).data)

describe("encodeReply → decodeReply", () => {
  for (const encoding of ENCODINGS) {
    // JSON numbers cannot carry NaN, ±Infinity or -0; see the NaN test below
    const finite = encoding === "json"

    it(`a single output tensor round-trips in ${encoding}`, () => {
      fc.assert(
        fc.property(anyPlainTensorArb(finite), metaArb, (t, meta) => {
          const reply = decodedReply(encodeReply({ outputs: hostTensor(t), ...meta }, encoding), encoding)
          expect({ model: reply.model, version: reply.version, actor: reply.actor }).toEqual(meta)
          if (!isSingle(reply.outputs)) throw new Error("expected a single tensor")
          expectTensor(reply.outputs, t)
        })
      )
    })

    it(`a map of named outputs round-trips in ${encoding}`, () => {
      fc.assert(
        fc.property(
          fc.dictionary(fc.stringMatching(/^[a-z][a-z0-9_:/]{0,10}$/), anyPlainTensorArb(finite), {
            minKeys: 1,
            maxKeys: 4
          }),
          metaArb,
          (tensors, meta) => {
            fc.pre(!Object.hasOwn(tensors, "dtype"))
            const outputs: Record<string, HostTensor> = {}
            for (const [name, t] of Object.entries(tensors)) outputs[name] = hostTensor(t)
            const reply = decodedReply(encodeReply({ outputs, ...meta }, encoding), encoding)
            expect(reply.model).toBe(meta.model)
            if (isSingle(reply.outputs)) throw new Error("expected named outputs")
            const got = reply.outputs as Readonly<Record<string, HostTensor>>
            expect(Object.keys(got).sort()).toEqual(Object.keys(tensors).sort())
            for (const [name, t] of Object.entries(tensors)) expectTensor(got[name]!, t as PlainTensor)
          }
        )
      )
    })
  }

  it("msgpack replies are plain maps with numpy-style little-endian bins (readable by any msgpack library)", () => {
    fc.assert(
      fc.property(anyPlainTensorArb(), (t) => {
        const body = encodeReply({ outputs: hostTensor(t), model: "m", version: 2, actor: "m-1" }, "msgpack")
        const plain = unpack(body) as {
          outputs: { dtype: string; shape: Array<number>; data: Uint8Array }
          model: string
          version: number
          actor: string
        }
        expect(plain.model).toBe("m")
        expect(plain.version).toBe(2)
        expect(plain.actor).toBe("m-1")
        expect(plain.outputs.dtype).toBe(t.dtype)
        expect(plain.outputs.shape).toEqual(t.shape)
        expect(new Uint8Array(plain.outputs.data)).toEqual(littleEndianBytes(t.dtype, t.values))
      })
    )
  })

  it("JSON replies carry data as flat number arrays", () => {
    const body = encodeReply(
      {
        outputs: { y: { dtype: "int32", shape: [2], data: new Int32Array([3, -4]) } },
        model: "m",
        version: 1,
        actor: "a"
      },
      "json"
    )
    expect(JSON.parse(new TextDecoder().decode(body))).toEqual({
      outputs: { y: { dtype: "int32", shape: [2], data: [3, -4] } },
      model: "m",
      version: 1,
      actor: "a"
    })
  })

  // A model may output NaN or ±Infinity (log(0), 0/0). JSON.stringify turns them into null,
  // and decodeReply then rejects the actor's own reply as malformed.
  it("a JSON reply whose outputs hold NaN or Infinity is still a reply to the client", () => {
    const body = encodeReply(
      {
        outputs: { dtype: "float32", shape: [3], data: new Float32Array([NaN, Infinity, 1]) },
        model: "m",
        version: 1,
        actor: "a"
      },
      "json"
    )
    const decoded = decodeReply(body, "json")
    expect(decoded.kind).toBe("reply")
  })

  it("a body that is not a modelbus reply is malformed, with a reason", () => {
    const packr = new Packr({ useRecords: false })
    const cases: Array<[Uint8Array, Encoding, string]> = [
      [new Uint8Array(0), "msgpack", "empty body"],
      [new TextEncoder().encode("nope"), "json", "not valid JSON"],
      [new TextEncoder().encode("[1]"), "json", "expected a reply object"],
      [new TextEncoder().encode(`{"outputs":5}`), "json", "outputs: expected a tensor or a map of tensors"],
      [new TextEncoder().encode(`{"outputs":{"y":5}}`), "json", "outputs.y: expected a tensor"],
      [
        packr.pack({ outputs: { dtype: "float32", shape: [2], data: [1] }, model: "m", version: 1, actor: "a" }),
        "msgpack",
        "needs 2 values, received 1"
      ],
      [
        packr.pack({ outputs: { dtype: "float32", shape: [1], data: [1] }, model: "m", actor: "a" }),
        "msgpack",
        "expected model, version and actor"
      ]
    ]
    for (const [bytes, encoding, reason] of cases) {
      const decoded = decodeReply(bytes, encoding)
      if (decoded.kind !== "malformed") throw new Error(`expected malformed for ${reason}, got ${decoded.kind}`)
      expect(decoded.reason).toContain(reason)
    }
  })

  it("random bytes never throw from decodeReply", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 128 }), fc.constantFrom(...ENCODINGS), (bytes, encoding) => {
        expect(["reply", "error", "malformed"]).toContain(decodeReply(bytes, encoding).kind)
      }),
      { numRuns: 1000 }
    )
  })
})
