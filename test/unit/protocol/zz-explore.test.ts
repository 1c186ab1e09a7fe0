import { it } from "vitest"
import { decodeRequest, encodeRequest, encodeReply, decodeReply } from "../../../src/protocol/codec.js"
it("explore", () => {
  const show = (x: unknown) => console.log(x)
  const r1 = decodeRequest(encodeRequest({ dtype: "float32", shape: [3], data: new Int32Array([1, 2, 3]) }, undefined, "msgpack"), "msgpack") as any
  show(r1.inputs?.value?.tensor?.data ?? r1)
  const r2 = decodeRequest(encodeRequest({ dtype: "bool", shape: [3], data: Buffer.from([1, 0, 1]) }, undefined, "json"), "json") as any
  show(r2.message ?? r2.inputs.value.tensor)
  const sub = new Float32Array([9, 1, 2, 3]).subarray(1)
  const r3 = decodeRequest(encodeRequest({ dtype: "float32", shape: [3], data: sub }, undefined, "msgpack"), "msgpack") as any
  show(r3.message ?? r3.inputs.value.tensor.data)
  const rep = encodeReply({ outputs: { dtype: "float32", shape: [2], data: new Float32Array([NaN, Infinity]) }, model: "m", version: 1, actor: "a" }, "json")
  show(new TextDecoder().decode(rep)); show(decodeReply(rep, "json"))
  const deep = `{"inputs":${"[".repeat(10000)}1${"]".repeat(10000)}}`
  show((decodeRequest(new TextEncoder().encode(deep), "json") as any).message)
  const deepM = new Uint8Array(10000 + 10); deepM.set([0x81, 0xa6, ...new TextEncoder().encode("inputs")]); deepM.fill(0x91, 8, 8 + 100000); deepM[deepM.length - 1] = 1
  const dm = new Uint8Array(8 + 100000 + 1); dm.set([0x81, 0xa6, ...new TextEncoder().encode("inputs")]); dm.fill(0x91, 8, 8 + 100000); dm[dm.length-1] = 1
  show((decodeRequest(dm, "msgpack") as any).message)
  const intNested = decodeRequest(encodeRequest({ dtype: "int32", shape: [2], data: [1.5, 2 ** 31] }, undefined, "json"), "json") as any
  show(intNested.message ?? intNested.inputs.value.tensor.data)
})
