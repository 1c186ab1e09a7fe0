// The shared helpers every folder uses: a cause's message, the record check, value descriptions
// and the encoding a message's Content-Type header asks for.
import { expect, describe as group, it } from "vitest"
import { encodingOfMessage } from "../../../src/protocol/codec.js"
import { describe, isRecord, messageOf } from "../../../src/protocol/values.js"

const withContentType = (value: string | undefined) => ({
  headers: value === undefined ? undefined : { get: (key: string) => (key === "Content-Type" ? value : "") }
})

group("shared helpers", () => {
  it("messageOf reads an Error's message and turns anything else into text", () => {
    expect(messageOf(new Error("disk full"))).toBe("disk full")
    expect(messageOf("plain")).toBe("plain")
    expect(messageOf(42)).toBe("42")
    expect(messageOf(undefined)).toBe("undefined")
  })

  it("isRecord accepts plain objects only", () => {
    expect(isRecord({ a: 1 })).toBe(true)
    expect(isRecord([])).toBe(false)
    expect(isRecord(null)).toBe(false)
    expect(isRecord("x")).toBe(false)
  })

  it("describe names the kind of value and its size", () => {
    expect(describe([1, 2, 3])).toBe("an array of 3")
    expect(describe(new Uint8Array(5))).toBe("5 bytes")
    expect(describe(null)).toBe("null")
    expect(describe({})).toBe("an object")
    expect(describe("x".repeat(50))).toBe(`the string "${"x".repeat(40)}…"`)
    expect(describe(7)).toBe("number 7")
  })

  it("encodingOfMessage reads JSON from the Content-Type header, msgpack otherwise", () => {
    expect(encodingOfMessage(withContentType("application/json"))).toBe("json")
    expect(encodingOfMessage(withContentType("Application/JSON; charset=utf-8"))).toBe("json")
    expect(encodingOfMessage(withContentType("application/msgpack"))).toBe("msgpack")
    expect(encodingOfMessage(withContentType(""))).toBe("msgpack")
    expect(encodingOfMessage(withContentType(undefined))).toBe("msgpack")
  })
})
