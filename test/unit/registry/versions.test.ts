// Pure parts of the registry: deterministic bundles and digests, signature compatibility, pruning.
import { describe, expect, it } from "vitest"
import type { ModelSignature } from "../../../src/model/specs.js"
import { decodeBundle, digestOf, encodeBundle } from "../../../src/registry/bundle.js"
import {
  type ModelVersion,
  signatureMismatch,
  unreferencedDigests,
  wholeHistory
} from "../../../src/registry/versions.js"

const bytes = (...xs: Array<number>) => Uint8Array.from(xs)

describe("bundles", () => {
  it("encode the same files to the same bytes whatever their order, and decode back", () => {
    const a = new Map([
      ["model.json", bytes(1, 2)],
      ["weights.bin", bytes(3)]
    ])
    const b = new Map([
      ["weights.bin", bytes(3)],
      ["model.json", bytes(1, 2)]
    ])
    expect(digestOf(encodeBundle(a))).toBe(digestOf(encodeBundle(b)))
    expect(digestOf(encodeBundle(a))).toMatch(/^sha256:[0-9a-f]{64}$/)
    const decoded = decodeBundle(encodeBundle(a))
    if (!decoded.ok) throw new Error(decoded.reason)
    expect([...decoded.value].map(([name, data]) => [name, Array.from(data)])).toEqual([
      ["model.json", [1, 2]],
      ["weights.bin", [3]]
    ])
  })

  it("change their digest when any byte changes, and refuse what is not a bundle", () => {
    const a = new Map([["model.json", bytes(1, 2)]])
    expect(digestOf(encodeBundle(a))).not.toBe(digestOf(encodeBundle(new Map([["model.json", bytes(1, 3)]]))))
    expect(decodeBundle(bytes(0xc1)).ok).toBe(false)
    expect(decodeBundle(bytes(0x92, 0x01))).toMatchObject({ ok: false, reason: expect.stringMatching(/not msgpack/) })
    expect(decodeBundle(encodeBundle(new Map([["weights.bin", bytes(1)]])))).toMatchObject({
      ok: false,
      reason: expect.stringMatching(/model\.json/)
    })
  })
})

const signature = (
  inputShape: Array<number | null>,
  dtype: "float32" | "int32" = "float32",
  outputs = ["species"]
): ModelSignature => ({
  format: "layers",
  inputs: [{ name: "measurements", dtype, shape: inputShape }],
  outputs: outputs.map((name) => ({ name, dtype: "float32", shape: [null, 3] }))
})

describe("signatureMismatch", () => {
  it("accepts the same inputs and output names", () => {
    expect(signatureMismatch(signature([null, 4]), signature([null, 4]))).toBeUndefined()
  })

  it("names what differs: input shape, input dtype, outputs", () => {
    expect(signatureMismatch(signature([null, 4]), signature([null, 5]))).toBe(
      "inputs differ: serving measurements float32[?,4]; new measurements float32[?,5]"
    )
    expect(signatureMismatch(signature([null, 4]), signature([null, 4], "int32"))).toMatch(/^inputs differ/)
    expect(signatureMismatch(signature([null, 4]), signature([null, 4], "float32", ["probabilities"]))).toMatch(
      /^outputs differ/
    )
  })
})

describe("unreferencedDigests", () => {
  it("keeps every digest a kept version refers to, rollbacks included", () => {
    const v = (version: number, digest: string) => ({ version, digest }) as ModelVersion
    expect(unreferencedDigests([v(3, "sha256:b"), v(4, "sha256:a")], ["sha256:a", "sha256:b", "sha256:c"])).toEqual([
      "sha256:c"
    ])
  })
})

describe("wholeHistory: artifacts are pruned only on a history read whole", () => {
  const versions = (...ns: Array<number>) => ns.map((version) => ({ version }))
  it("holds for every version since the first, or for as many as the bucket keeps, up to the current one", () => {
    expect(wholeHistory(versions(1, 2, 3), 3, 10)).toBe(true)
    expect(wholeHistory(versions(4, 5, 6), 6, 3)).toBe(true)
  })
  it("fails on a read that missed an entry in the middle, at the start or at the end", () => {
    // v5 (the only one still naming v1's artifacts after rollbacks) missed: its artifacts must stay
    expect(wholeHistory(versions(1, 2, 3, 4, 6), 6, 10)).toBe(false)
    expect(wholeHistory(versions(2, 3, 4, 5, 6), 6, 10)).toBe(false)
    expect(wholeHistory(versions(6), 6, 10)).toBe(false)
    expect(wholeHistory(versions(1, 2, 3), 4, 10)).toBe(false)
    expect(wholeHistory(versions(), 1, 10)).toBe(false)
  })
  it("fails on versions out of order (a model deleted and published again from 1)", () => {
    expect(wholeHistory(versions(8, 9, 1, 2), 2, 10)).toBe(false)
  })
})
