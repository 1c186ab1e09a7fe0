// Moleculer settings shared by the bench's service nodes and its client node: NATS transporter,
// no logger/metrics/tracing, and a msgpackr serializer (like Moleculer's built-in CBOR one).
import Moleculer from "moleculer"
import { Packr } from "msgpackr"

/** A binary serializer for Moleculer packets, built like its cbor-x serializer but on msgpackr. */
class MsgpackrSerializer extends Moleculer.Serializers.Base {
  private readonly packr = new Packr({ useRecords: false, mapsAsObjects: true, moreTypes: false })
  override serialize(obj: object): Buffer {
    return this.packr.pack(obj)
  }
  override deserialize(buf: Buffer): object {
    return this.packr.unpack(buf) as object
  }
}

export const moleculerService = (model: string) => `model-${model}`

export const moleculerBrokerOptions = (nodeID: string, natsUrl: string, binary: boolean): Moleculer.BrokerOptions => ({
  nodeID,
  namespace: "bench",
  transporter: { type: "NATS", options: { url: natsUrl } },
  serializer: binary ? new MsgpackrSerializer() : "JSON",
  logger: false,
  requestTimeout: 10_000,
  metrics: false,
  tracing: false
})

/** Tensor data as Moleculer delivered it (JSON numbers, or raw bytes) → Float32Array. */
export const toFloat32 = (data: ArrayLike<number> | Uint8Array): Float32Array => {
  if (data instanceof Uint8Array) {
    const aligned = data.byteOffset % 4 === 0 ? data : new Uint8Array(data)
    return new Float32Array(aligned.buffer, aligned.byteOffset, aligned.byteLength / 4)
  }
  return Float32Array.from(data)
}
