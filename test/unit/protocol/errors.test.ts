// The typed service errors on the wire: status codes, and errorBody → JSON / msgpack →
// serviceErrorFromBody giving back an instance of the same class with the same fields.
import { Packr } from "msgpackr"
import { describe, expect, it } from "vitest"
import { decodeReply, type Encoding, encodeError } from "../../../src/protocol/codec.js"
import {
  BadInput,
  DeadlineExceeded,
  errorBody,
  errorCodes,
  InferenceFailed,
  Overloaded,
  PayloadTooLarge,
  type ServiceError,
  serviceErrorFromBody
} from "../../../src/protocol/errors.js"

const packr = new Packr({ useRecords: false, mapsAsObjects: true })

const samples: ReadonlyArray<[new (...args: Array<never>) => ServiceError, ServiceError, Record<string, unknown>]> = [
  [
    BadInput,
    new BadInput({ message: `input "x": expected dtype float32, received int32`, input: "x" }),
    { message: `input "x": expected dtype float32, received int32`, input: "x" }
  ],
  [BadInput, new BadInput({ message: "empty body" }), { message: "empty body" }],
  [
    PayloadTooLarge,
    new PayloadTooLarge({ message: "too big", limit: 1024, size: 4096 }),
    { message: "too big", limit: 1024, size: 4096 }
  ],
  [
    InferenceFailed,
    new InferenceFailed({ message: "tfjs threw: out of memory" }),
    { message: "tfjs threw: out of memory" }
  ],
  [Overloaded, new Overloaded({ message: "64 requests in flight" }), { message: "64 requests in flight" }],
  [
    DeadlineExceeded,
    new DeadlineExceeded({ message: "deadline passed 12 ms ago" }),
    { message: "deadline passed 12 ms ago" }
  ]
]

const viaJson = (body: unknown): unknown => JSON.parse(JSON.stringify(body))
const viaMsgpack = (body: unknown): unknown => packr.unpack(packr.pack(body))

const expectSame = (
  decoded: ServiceError | undefined,
  cls: new (...args: Array<never>) => ServiceError,
  original: ServiceError,
  fields: Record<string, unknown>
) => {
  expect(decoded).toBeInstanceOf(cls)
  expect(decoded).toBeInstanceOf(Error)
  expect(decoded!._tag).toBe(original._tag)
  for (const [k, v] of Object.entries(fields)) expect((decoded as unknown as Record<string, unknown>)[k]).toEqual(v)
  if (!("input" in fields) && original._tag === "BadInput") expect((decoded as BadInput).input).toBeUndefined()
}

describe("service errors", () => {
  it("have the NATS micro status codes 400, 413, 500, 503, 504", () => {
    expect(errorCodes).toEqual({
      BadInput: 400,
      PayloadTooLarge: 413,
      InferenceFailed: 500,
      Overloaded: 503,
      DeadlineExceeded: 504
    })
    for (const [, error] of samples) expect(errorCodes[error._tag]).toBeGreaterThanOrEqual(400)
  })

  it("the wire body is {error: {_tag, message, ...fields}}", () => {
    expect(viaJson(errorBody(new PayloadTooLarge({ message: "too big", limit: 10, size: 20 })))).toEqual({
      error: { _tag: "PayloadTooLarge", message: "too big", limit: 10, size: 20 }
    })
    expect(viaJson(errorBody(new BadInput({ message: "m", input: "x" })))).toEqual({
      error: { _tag: "BadInput", message: "m", input: "x" }
    })
  })

  for (const [name, via] of [
    ["JSON", viaJson],
    ["msgpack", viaMsgpack]
  ] as const) {
    it(`errorBody → ${name} → serviceErrorFromBody gives the same class, tag and fields`, () => {
      for (const [cls, error, fields] of samples)
        expectSame(serviceErrorFromBody(via(errorBody(error))), cls, error, fields)
    })
  }

  for (const encoding of ["json", "msgpack"] as ReadonlyArray<Encoding>) {
    it(`encodeError → decodeReply (${encoding}) is the same typed error`, () => {
      for (const [cls, error, fields] of samples) {
        const decoded = decodeReply(encodeError(error, encoding), encoding)
        if (decoded.kind !== "error") throw new Error(`expected an error, got ${decoded.kind}`)
        expectSame(decoded.error, cls, error, fields)
      }
    })
  }

  it("a body without a known service error is not one", () => {
    expect(serviceErrorFromBody(undefined)).toBeUndefined()
    expect(serviceErrorFromBody(null)).toBeUndefined()
    expect(serviceErrorFromBody("error")).toBeUndefined()
    expect(serviceErrorFromBody({ outputs: {} })).toBeUndefined()
    expect(serviceErrorFromBody({ error: "boom" })).toBeUndefined()
    expect(
      serviceErrorFromBody({ error: { _tag: "Timeout", message: "m", subject: "s", timeoutMs: 1 } })
    ).toBeUndefined()
    expect(serviceErrorFromBody({ error: { _tag: "PayloadTooLarge", message: "m" } })).toBeUndefined() // limit, size missing
    expect(serviceErrorFromBody({ error: { _tag: "BadInput" } })).toBeUndefined() // message missing
  })
})
