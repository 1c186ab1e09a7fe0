// What a load driver is asked to be: which client kind (modelbus client, muxed inbox, nats.js
// request(), Moleculer with JSON or msgpackr) against which model, subject and NATS server.
export const DriverKind = {
  modelbus: "modelbus",
  muxed: "muxed",
  request: "request",
  moleculerJson: "moleculer-json",
  moleculerMsgpack: "moleculer-msgpack"
} as const
export type DriverKind = (typeof DriverKind)[keyof typeof DriverKind]

export interface DriverSetup {
  readonly kind: DriverKind
  readonly natsUrl: string
  readonly model: string
  /** Subject for the raw kinds (muxed, request): echo or load-per-request. */
  readonly subject?: string
  /** Subject prefix for the modelbus client (default modelbus). */
  readonly prefix?: string
  /** Moleculer service nodes to wait for. */
  readonly workers?: number
  readonly timeoutMs: number
}
