// Hostile infer requests for the fuzz test, as fast-check arbitraries: malformed bodies of every kind
// (each with the status it must get) and valid Iris requests in every encoding (with their row).
import fc from "fast-check"
import { Packr } from "msgpackr"

export const JSON_TYPE = { "Content-Type": "application/json" } as const

/** A request that must be refused with `expect` (400 or 413). */
export interface Malformed {
  readonly kind: string
  readonly body: Uint8Array
  readonly headers?: Readonly<Record<string, string>>
  readonly expect: 400 | 413
}

/** A valid request for Iris row `row`; `named`: the reply is a map of outputs. */
export interface Valid {
  readonly kind: string
  readonly body: Uint8Array
  readonly headers?: Readonly<Record<string, string>>
  readonly row: number
  readonly named: boolean
}

const packr = new Packr({ useRecords: false, mapsAsObjects: true, moreTypes: false })
const withRecords = new Packr({ useRecords: true })
const withTypedArrays = new Packr({ useRecords: false, moreTypes: true })
const withReferences = new Packr({ useRecords: false, structuredClone: true })
const encoder = new TextEncoder()
const pack = (value: unknown): Uint8Array => packr.pack(value)
const json = (value: unknown): Uint8Array => encoder.encode(JSON.stringify(value))
const text = (value: string): Uint8Array => encoder.encode(value)
const concat = (...parts: ReadonlyArray<ArrayLike<number>>): Uint8Array =>
  Uint8Array.from(parts.flatMap((p) => Array.from(p)))
const bytesOf = (values: ReadonlyArray<number>) => new Uint8Array(Float32Array.from(values).buffer)

/** msgpack `{"inputs": …}` with the value's bytes spliced in as they are. */
const underInputs = (value: ArrayLike<number>) => concat([0x81, 0xa6], text("inputs"), value)
/** msgpack `{"inputs": {"dtype": "float32", "shape": [1, 4], "data": …}}` with raw bytes for data. */
const underData = (value: ArrayLike<number>) =>
  concat(
    [0x81, 0xa6],
    text("inputs"),
    [0x83, 0xa5],
    text("dtype"),
    [0xa7],
    text("float32"),
    [0xa5],
    text("shape"),
    [0x92, 0x01, 0x04, 0xa4],
    text("data"),
    value
  )

const u32 = (n: number) => [(n >>> 24) & 0xff, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff]

/** An arbitrary of one function making Malformed requests of a kind, to map generated bodies through. */
const malformed = (kind: string, expect: 400 | 413 = 400) =>
  fc.constant(
    (body: Uint8Array, headers?: Readonly<Record<string, string>>): Malformed => ({
      kind,
      body,
      ...(headers === undefined ? {} : { headers }),
      expect
    })
  )

/** Builds the arbitraries over the Iris rows (four measurements each). */
export const hostileArbitraries = (rows: ReadonlyArray<ReadonlyArray<number>>) => {
  const rowIndex = fc.integer({ min: 0, max: rows.length - 1 })
  const rowOf = (i: number) => [...rows[i]!]
  const validTensor = (i: number) => ({ dtype: "float32", shape: [1, 4], data: bytesOf(rowOf(i)) })
  const msgpackRequest = rowIndex.map((i) => pack({ inputs: validTensor(i) }))
  const jsonRequest = rowIndex.map((i) => json({ inputs: [rowOf(i)] }))
  const m = (kind: string, expect: 400 | 413 = 400) => malformed(kind, expect)

  const randomBytes = fc
    .tuple(m("random bytes"), fc.uint8Array({ maxLength: 512 }), fc.boolean())
    .map(([make, body, asJson]) => make(body, asJson ? JSON_TYPE : undefined))

  const truncated = fc
    .tuple(m("truncated msgpack or JSON"), fc.oneof(msgpackRequest, jsonRequest), fc.nat())
    .map(([make, body, cut]) => {
      const isJson = body[0] === 0x7b
      return make(body.subarray(0, cut % body.byteLength), isJson ? JSON_TYPE : undefined)
    })

  // array32, map32, str32, bin32, ext32 headers declaring up to 4 G entries, then a few bytes
  const declaredHuge = fc
    .tuple(
      m("msgpack declaring a huge array, map, string or bin"),
      fc.constantFrom(0xdd, 0xdf, 0xdb, 0xc6, 0xc9),
      fc.integer({ min: 2 ** 16, max: 2 ** 32 - 1 }),
      fc.uint8Array({ maxLength: 16 }),
      fc.constantFrom("top", "inputs", "data")
    )
    .map(([make, head, length, tail, where]) => {
      const declared = concat([head], u32(length), head === 0xc9 ? [0x01] : [], tail)
      return make(where === "top" ? declared : where === "inputs" ? underInputs(declared) : underData(declared))
    })

  const jsonHuge = fc
    .tuple(
      m("JSON with huge arrays, strings or declared shapes"),
      fc.constantFrom("flat", "row", "string", "shape", "map"),
      fc.integer({ min: 10_000, max: 60_000 })
    )
    .map(([make, what, n]) => {
      const numbers = () => new Array<number>(n).fill(1.5)
      const body =
        what === "flat"
          ? { inputs: numbers() }
          : what === "row"
            ? { inputs: [numbers()] }
            : what === "string"
              ? { inputs: { dtype: "x".repeat(n * 3), shape: [1, 4], data: [1, 2, 3, 4] } }
              : what === "shape"
                ? { inputs: { dtype: "float32", shape: [n * 1e5, n * 1e5], data: [1, 2, 3, 4] } }
                : { inputs: Object.fromEntries(Array.from({ length: n / 4 }, (_, i) => [`in${i}`, [[1, 2, 3, 4]]])) }
      return make(json(body), JSON_TYPE)
    })

  // shapes whose product overflows, asks for gigabytes, or is not a shape at all, with tiny data
  const hugeDim = fc.constantFrom(2 ** 31, 2 ** 32, 2 ** 53 - 1, 1e9, 1e15, 1e308, -1, -4, 0.5, Number.NaN, Infinity)
  const badShapes = fc
    .tuple(
      m("shapes that overflow, ask for gigabytes or are not shapes"),
      fc.array(fc.oneof(hugeDim, fc.nat(8)), { maxLength: 12 }),
      hugeDim,
      fc.integer({ min: 1, max: 64 }),
      fc.boolean()
    )
    .map(([make, rest, huge, bytes, tooDeep]) => {
      const shape = tooDeep ? new Array(9 + rest.length).fill(1) : [huge, ...rest]
      return make(pack({ inputs: { dtype: "float32", shape, data: new Uint8Array(bytes) } }))
    })

  const badTimeouts = fc
    .tuple(
      m("negative, zero, NaN or mistyped timeoutMs"),
      rowIndex,
      fc.constantFrom<unknown>(-1, -1e9, 0, -0.5, Number.NaN, -Infinity, "100", true, {}, [5]),
      fc.boolean()
    )
    .map(([make, i, timeoutMs, asJson]) =>
      asJson && typeof timeoutMs === "number" && !Number.isFinite(timeoutMs)
        ? make(text(`{"inputs": [[${rowOf(i).join(",")}]], "timeoutMs": -1e999}`), JSON_TYPE)
        : asJson
          ? make(json({ inputs: [rowOf(i)], timeoutMs }), JSON_TYPE)
          : make(pack({ inputs: validTensor(i), timeoutMs }))
    )

  const unknownDtypes = fc
    .tuple(
      m("unknown dtypes"),
      fc.oneof(
        fc.constantFrom("float64", "string", "complex64", "__proto__", "constructor", "toString", "", "FLOAT32"),
        fc.string({ maxLength: 12 }).filter((s) => !["float32", "int32", "bool"].includes(s))
      ),
      rowIndex
    )
    .map(([make, dtype, i]) => make(pack({ inputs: { dtype, shape: [1, 4], data: bytesOf(rowOf(i)) } })))

  const shortData = fc
    .tuple(
      m("data shorter or longer than the shape, or of the wrong dtype"),
      fc.integer({ min: 0, max: 40 }).filter((n) => n !== 16),
      fc.constantFrom("bytes", "numbers", "int32", "bool", "json")
    )
    .map(([make, n, how]) =>
      how === "bytes"
        ? make(pack({ inputs: { dtype: "float32", shape: [1, 4], data: new Uint8Array(n) } }))
        : how === "numbers"
          ? make(
              pack({ inputs: { dtype: "float32", shape: [1, 4], data: new Array((n % 4) + (n > 20 ? 5 : 0)).fill(1) } })
            )
          : how === "int32"
            ? make(pack({ inputs: { dtype: "int32", shape: [1, 4], data: new Uint8Array(16) } }))
            : how === "bool"
              ? make(pack({ inputs: { dtype: "bool", shape: [1, 4], data: new Uint8Array(4) } }))
              : make(json({ inputs: { dtype: "float32", shape: [1, 4], data: [1, 2, "x", 4] } }), JSON_TYPE)
    )

  // unknown inputs and outputs, __proto__ and Object.prototype names included (JSON keeps __proto__ as a key)
  const unknownNames = fc
    .tuple(
      m("unknown inputs or outputs, __proto__ included"),
      rowIndex,
      fc.constantFrom("__proto__", "constructor", "toString", "hasOwnProperty", "bogus", "measurements2"),
      fc.constantFrom("input", "input+valid", "output", "outputs-empty", "outputs-mistyped", "msgpack")
    )
    .map(([make, i, name, how]) => {
      const row = `[[${rowOf(i).join(",")}]]`
      if (how === "input") return make(text(`{"inputs": {${JSON.stringify(name)}: ${row}}}`), JSON_TYPE)
      if (how === "input+valid") {
        return make(text(`{"inputs": {"measurements": ${row}, ${JSON.stringify(name)}: ${row}}}`), JSON_TYPE)
      }
      if (how === "output") return make(text(`{"inputs": ${row}, "outputs": [${JSON.stringify(name)}]}`), JSON_TYPE)
      if (how === "outputs-empty") return make(text(`{"inputs": ${row}, "outputs": []}`), JSON_TYPE)
      if (how === "outputs-mistyped") return make(text(`{"inputs": ${row}, "outputs": "species"}`), JSON_TYPE)
      return make(pack({ inputs: { [name]: [rowOf(i)] } }))
    })

  const deep = fc
    .tuple(
      m("nesting 100,000 deep"),
      fc.constantFrom("json arrays", "json maps", "msgpack arrays", "msgpack maps"),
      fc.integer({ min: 50_000, max: 100_000 })
    )
    .map(([make, how, depth]) =>
      how === "json arrays"
        ? make(text(`{"inputs": ${"[".repeat(depth)}1${"]".repeat(depth)}}`), JSON_TYPE)
        : how === "json maps"
          ? make(text(`{"inputs": ${'{"a":'.repeat(depth)}1${"}".repeat(depth)}}`), JSON_TYPE)
          : how === "msgpack arrays"
            ? make(underInputs(concat(new Uint8Array(depth).fill(0x91), [0x01])))
            : make(underInputs(concat(...new Array(depth).fill([0x81, 0xa1, 0x61]), [0x01])))
    )

  const hugeHeaders = fc
    .tuple(
      m("huge headers on a malformed body"),
      fc.integer({ min: 1_000, max: 200_000 }),
      fc.constantFrom("filler", "content-type"),
      fc.uint8Array({ minLength: 1, maxLength: 64 })
    )
    .map(([make, size, which, body]) =>
      which === "filler"
        ? make(concat([0xc1], body), { "X-Filler": "x".repeat(size) })
        : make(pack({ inputs: [[1, 2, 3, 4]] }), { "Content-Type": `application/json;${"x".repeat(size)}` })
    )

  const wrongContentType = fc
    .tuple(m("the wrong Content-Type"), rowIndex, fc.constantFrom("json as msgpack", "msgpack as json", "text/plain"))
    .map(([make, i, how]) =>
      how === "json as msgpack"
        ? make(json({ inputs: [rowOf(i)] }))
        : how === "msgpack as json"
          ? make(pack({ inputs: validTensor(i) }), JSON_TYPE)
          : make(json({ inputs: [rowOf(i)] }), { "Content-Type": "text/plain" })
    )

  const wrongTypes = fc
    .tuple(
      m("wrong types where a request, inputs or tensor belongs"),
      fc.constantFrom<unknown>(
        null,
        "str",
        true,
        5,
        {},
        [],
        [[]],
        [[1, 2, 3]],
        [["a", "b", "c", "d"]],
        [[null, 1, 2, 3]],
        [[1, 2], [3]],
        { dtype: 5 },
        { measurements: null },
        { dtype: "float32", shape: "1,4", data: [1, 2, 3, 4] },
        { dtype: "float32", shape: [1, 4], data: "AAAA" },
        { dtype: "float32", shape: [1, 4], data: { 0: 1 } }
      ),
      fc.boolean(),
      fc.constantFrom("inputs", "body")
    )
    .map(([make, value, asJson, where]) => {
      const body =
        where === "inputs" ? { inputs: value } : value === null || typeof value !== "object" ? value : [value]
      return asJson ? make(json(body), JSON_TYPE) : make(pack(body))
    })

  const oversized = fc
    .tuple(m("bodies over the actor's payload limit", 413), fc.integer({ min: 740_000, max: 950_000 }), fc.boolean())
    .map(([make, size, asJson]) =>
      asJson
        ? make(json({ inputs: [[1, 2, 3, 4]], pad: "x".repeat(size) }), JSON_TYPE)
        : make(pack({ inputs: [[1, 2, 3, 4]], pad: new Uint8Array(size) }))
    )

  // msgpack extensions a plain msgpack peer never sends: typed arrays, dates, regexps, errors, sets,
  // bigints, and structured-clone references that would expand 200 KB into billions of values
  const extensions = fc
    .tuple(
      m("msgpack extensions: typed arrays, references, dates, errors, bigints"),
      fc.constantFrom("typed array", "references", "date", "regexp", "error", "set", "bigint"),
      rowIndex
    )
    .map(([make, how, i]) => {
      if (how === "typed array") {
        return make(
          withTypedArrays.pack({ inputs: { dtype: "float32", shape: [1, 4], data: Float32Array.from(rowOf(i)) } })
        )
      }
      if (how === "references") {
        const inner = new Array<number>(20_000).fill(1)
        return make(withReferences.pack({ inputs: new Array(20_000).fill(inner) }))
      }
      const value =
        how === "date"
          ? new Date()
          : how === "regexp"
            ? /(a+)+$/
            : how === "error"
              ? new Error("x")
              : how === "set"
                ? new Set([1])
                : 2n ** 70n
      return make(withTypedArrays.pack({ inputs: [rowOf(i)], timeoutMs: value }))
    })

  /** Every malformed kind; heavy ones (100 KB to 950 KB bodies) less often, about 20 of each in 10,000. */
  const malformedArb: fc.Arbitrary<Malformed> = fc.oneof(
    { arbitrary: randomBytes, weight: 80 },
    { arbitrary: truncated, weight: 80 },
    { arbitrary: declaredHuge, weight: 40 },
    { arbitrary: jsonHuge, weight: 1 },
    { arbitrary: badShapes, weight: 40 },
    { arbitrary: badTimeouts, weight: 40 },
    { arbitrary: unknownDtypes, weight: 24 },
    { arbitrary: shortData, weight: 32 },
    { arbitrary: unknownNames, weight: 40 },
    { arbitrary: deep, weight: 1 },
    { arbitrary: hugeHeaders, weight: 2 },
    { arbitrary: wrongContentType, weight: 24 },
    { arbitrary: wrongTypes, weight: 32 },
    { arbitrary: oversized, weight: 1 },
    { arbitrary: extensions, weight: 4 }
  )

  const validArb: fc.Arbitrary<Valid> = fc
    .tuple(
      rowIndex,
      fc.constantFrom(
        "msgpack tensor",
        "msgpack numbers",
        "msgpack nested",
        "msgpack records",
        "json nested",
        "json tensor",
        "json charset",
        "named, outputs, timeoutMs",
        "huge header"
      )
    )
    .map(([row, kind]): Valid => {
      const values = rowOf(row)
      const valid = (body: Uint8Array, headers?: Readonly<Record<string, string>>, named = false): Valid => ({
        kind,
        body,
        row,
        named,
        ...(headers === undefined ? {} : { headers })
      })
      switch (kind) {
        case "msgpack tensor":
          return valid(pack({ inputs: validTensor(row) }))
        case "msgpack numbers":
          return valid(pack({ inputs: { dtype: "float32", shape: [1, 4], data: values } }))
        case "msgpack nested":
          return valid(pack({ inputs: [values] }))
        case "msgpack records":
          return valid(withRecords.pack({ inputs: [values] }))
        case "json nested":
          return valid(json({ inputs: [values] }), JSON_TYPE)
        case "json tensor":
          return valid(json({ inputs: { dtype: "float32", shape: [1, 4], data: values } }), JSON_TYPE)
        case "json charset":
          return valid(json({ inputs: [values] }), { "Content-Type": "Application/JSON; charset=utf-8" })
        case "named, outputs, timeoutMs":
          return valid(
            pack({ inputs: { measurements: [values] }, outputs: ["species"], timeoutMs: 60_000 }),
            undefined,
            true
          )
        default:
          return valid(pack({ inputs: [values] }), { "X-Filler": "y".repeat(100_000) })
      }
    })

  return { malformedArb, validArb }
}
