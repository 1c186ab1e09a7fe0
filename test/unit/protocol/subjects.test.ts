// Subjects come from one pure builder; model names are single subject tokens.
import fc from "fast-check"
import { describe, expect, it } from "vitest"
import {
  actorToken,
  DEFAULT_PREFIX,
  isModelName,
  isSubjectPrefix,
  MicroVerb,
  microSubject,
  subjects
} from "../../../src/protocol/subjects.js"

const TOKEN_CHARS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-"
const tokenArb = fc.string({ unit: fc.constantFrom(...TOKEN_CHARS), minLength: 1, maxLength: 30 })

describe("subjects", () => {
  it("builds modelbus.infer.<model> and modelbus.status by default", () => {
    const s = subjects()
    expect(DEFAULT_PREFIX).toBe("modelbus")
    expect(s.prefix).toBe("modelbus")
    expect(s.infer("iris")).toBe("modelbus.infer.iris")
    expect(s.status).toBe("modelbus.status")
    expect(s.autoscale("iris")).toBe("modelbus.autoscale.iris")
  })

  it("uses a custom prefix, including a dotted one", () => {
    expect(subjects("acme").infer("iris")).toBe("acme.infer.iris")
    expect(subjects("acme").status).toBe("acme.status")
    expect(subjects("acme.ml").infer("my-model_2")).toBe("acme.ml.infer.my-model_2")
    expect(subjects("acme.ml").status).toBe("acme.ml.status")
  })

  it("every model gets its own infer subject and queue group, distinct from status (property)", () => {
    fc.assert(
      fc.property(tokenArb, tokenArb, tokenArb, (prefix, a, b) => {
        const s = subjects(prefix)
        expect(s.infer(a)).toBe(`${prefix}.infer.${a}`)
        expect(s.infer(a).split(".")).toEqual([prefix, "infer", a])
        expect(s.infer(a) === s.infer(b)).toBe(a === b)
        expect(s.inferQueue(a) === s.inferQueue(b)).toBe(a === b)
        expect(s.infer(a)).not.toBe(s.status)
      })
    )
  })
})

describe("a replica's own infer subject", () => {
  it("is the model's infer subject and one more token: the actor id, encoded where it is not a token", () => {
    expect(subjects().inferActor("iris", "iris-1@k3j9x2")).toBe("modelbus.infer.iris.iris-1%40k3j9x2")
    expect(subjects("acme.ml").inferActor("iris", "solo_2")).toBe("acme.ml.infer.iris.solo_2")
    expect(actorToken("a.b*c>d e%")).toBe("a%2Eb%2Ac%3Ed%20e%25")
    expect(actorToken("é")).toBe("%C3%A9")
  })

  it("every actor id gives one subject token, and different ids different tokens (property)", () => {
    fc.assert(
      fc.property(tokenArb, fc.string({ minLength: 1 }), fc.string({ minLength: 1 }), (model, a, b) => {
        const subject = subjects().inferActor(model, a)
        expect(subject.split(".")).toEqual(["modelbus", "infer", model, actorToken(a)])
        expect(actorToken(a)).toMatch(/^[A-Za-z0-9_%-]+$/)
        expect(actorToken(a) === actorToken(b)).toBe(a === b)
      })
    )
  })
})

describe("discovery subjects", () => {
  it("describe is prefixed like infer; the micro service name is one token of prefix and model", () => {
    expect(subjects().describe("iris")).toBe("modelbus.describe.iris")
    expect(subjects("acme.ml").describe("iris")).toBe("acme.ml.describe.iris")
    expect(subjects().service("iris")).toBe("modelbus-iris")
    expect(subjects("acme.ml").service("my_model-2")).toBe("acme-ml-my_model-2")
    fc.assert(
      fc.property(tokenArb, tokenArb, (prefix, model) => {
        expect(subjects(prefix).service(model)).toMatch(/^[A-Za-z0-9_-]+$/)
      })
    )
  })

  it("NATS micro verbs: every service, one service, one instance (ADR-32)", () => {
    expect(microSubject(MicroVerb.ping)).toBe("$SRV.PING")
    expect(microSubject(MicroVerb.info, "modelbus-iris")).toBe("$SRV.INFO.modelbus-iris")
    expect(microSubject(MicroVerb.stats, "modelbus-iris", "abc")).toBe("$SRV.STATS.modelbus-iris.abc")
  })
})

describe("isModelName", () => {
  it("accepts one subject token of letters, digits, _ and -", () => {
    for (const name of ["iris", "Iris_2", "a", "0", "-", "_", "my-model"]) expect(isModelName(name)).toBe(true)
  })

  it("rejects empty names, dots, wildcards, spaces and non-ASCII letters", () => {
    for (const name of ["", "a.b", "*", ">", "a b", "iris\n", "é", "a/b", "a\tb", "modèle", "a>"])
      expect(isModelName(name)).toBe(false)
  })

  it("accepts exactly the strings over [A-Za-z0-9_-] (property)", () => {
    fc.assert(
      fc.property(tokenArb, (name) => {
        expect(isModelName(name)).toBe(true)
      })
    )
    fc.assert(
      fc.property(fc.string({ unit: "binary", maxLength: 20 }), (name) => {
        const reference = name.length > 0 && [...name].every((c) => TOKEN_CHARS.includes(c))
        expect(isModelName(name)).toBe(reference)
      }),
      { numRuns: 2000 }
    )
    // a valid name with one foreign character inserted anywhere is rejected
    fc.assert(
      fc.property(tokenArb, fc.string({ unit: "binary", minLength: 1, maxLength: 1 }), fc.nat(), (name, c, at) => {
        fc.pre(!TOKEN_CHARS.includes(c))
        const i = at % (name.length + 1)
        expect(isModelName(name.slice(0, i) + c + name.slice(i))).toBe(false)
      })
    )
  })
})

describe("isSubjectPrefix", () => {
  it("accepts dot-separated tokens and rejects empty tokens and wildcards", () => {
    expect(isSubjectPrefix("modelbus")).toBe(true)
    expect(isSubjectPrefix("acme.ml")).toBe(true)
    for (const p of ["", ".", "a.", ".a", "a..b", "a.*", "a.>", "a b"]) expect(isSubjectPrefix(p)).toBe(false)
  })
})
