// The machine stays a set of pure functions: its files import one another and, for types only, the
// wire contract in src/protocol/; no Effect, no Node, nothing from the runtime that carries out commands.
import { readdirSync, readFileSync } from "node:fs"
import { dirname, join, relative, resolve } from "node:path"
import ts from "typescript"
import { describe, expect, it } from "vitest"

const MACHINE = resolve(import.meta.dirname, "../../../../src/supervisor/machine")
const PROTOCOL = resolve(import.meta.dirname, "../../../../src/protocol")

interface Import {
  readonly file: string
  readonly from: string
  readonly typeOnly: boolean
}

const importsOf = (file: string): ReadonlyArray<Import> => {
  const source = ts.createSourceFile(file, readFileSync(join(MACHINE, file), "utf8"), ts.ScriptTarget.ES2022)
  return source.statements.flatMap((statement) =>
    (ts.isImportDeclaration(statement) || ts.isExportDeclaration(statement)) &&
    statement.moduleSpecifier !== undefined &&
    ts.isStringLiteral(statement.moduleSpecifier)
      ? [
          {
            file,
            from: statement.moduleSpecifier.text,
            typeOnly: ts.isImportDeclaration(statement)
              ? statement.importClause?.isTypeOnly === true
              : statement.isTypeOnly
          }
        ]
      : []
  )
}

/** Why an import does not belong in the machine, or undefined when it does. */
const problemOf = ({ file, from, typeOnly }: Import): string | undefined => {
  if (!from.startsWith(".")) return `${file} imports the package ${from}`
  const target = resolve(MACHINE, dirname(file), from)
  if (dirname(target) === MACHINE) return undefined
  if (relative(PROTOCOL, target).startsWith("..")) return `${file} imports ${from}, outside the machine`
  return typeOnly ? undefined : `${file} imports values from ${from} (types only from the wire contract)`
}

describe("the supervisor's machine", () => {
  const files = readdirSync(MACHINE).filter((f) => f.endsWith(".ts"))

  it("holds the transition and the OTP rules", () => {
    expect(files).toEqual(
      expect.arrayContaining([
        "transition.ts",
        "childSpec.ts",
        "strategy.ts",
        "intensity.ts",
        "backoff.ts",
        "recycle.ts"
      ])
    )
  })

  it("imports nothing effectful: its own files, and types of the wire contract", () => {
    const imports = files.flatMap(importsOf)
    expect(imports.length).toBeGreaterThan(files.length)
    expect(imports.flatMap((i) => problemOf(i) ?? [])).toEqual([])
  })

  it("would see an import of the runtime, of Effect, or a value of the protocol", () => {
    expect(
      [
        { file: "transition.ts", from: "../runtime/interpreter.js", typeOnly: true },
        { file: "transition.ts", from: "effect", typeOnly: false },
        { file: "state.ts", from: "../../protocol/ipc.js", typeOnly: false }
      ].map(problemOf)
    ).toEqual([
      "transition.ts imports ../runtime/interpreter.js, outside the machine",
      "transition.ts imports the package effect",
      "state.ts imports values from ../../protocol/ipc.js (types only from the wire contract)"
    ])
  })
})
