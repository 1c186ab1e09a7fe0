// What a run of `modelbus` ends with (pure): exit codes 0 / 1 / 2, the one failure line with secrets
// masked, and the short usage text a wrong command line gets instead of the help.
import * as Cause from "effect/Cause"
import * as CliError from "effect/cli/CliError"
import type * as HelpDoc from "effect/cli/HelpDoc"
import * as Exit from "effect/Exit"
import { describe, expect, it } from "vitest"
import { ExitCode, exitCodeOf, failureLine, missingCommandProblem, usageText } from "../../../src/cli/usage.js"
import { ConnectionError, NotFound } from "../../../src/protocol/errors.js"

const showHelp = new CliError.ShowHelp({ commandPath: ["modelbus"], errors: [] })

describe("exitCodeOf", () => {
  it("is 0 for success and for an interrupt (SIGTERM/SIGINT)", () => {
    expect(exitCodeOf(Exit.succeed(undefined))).toBe(ExitCode.ok)
    expect(exitCodeOf(Exit.failCause(Cause.interrupt(1)))).toBe(ExitCode.ok)
  })

  it("is 2 for a usage error (effect/cli's ShowHelp) and 1 for a typed error or a defect", () => {
    expect(exitCodeOf(Exit.fail(showHelp))).toBe(ExitCode.usage)
    expect(exitCodeOf(Exit.fail(new NotFound({ message: "no model", target: "x" })))).toBe(ExitCode.failed)
    expect(exitCodeOf(Exit.die(new Error("boom")))).toBe(ExitCode.failed)
  })
})

describe("failureLine", () => {
  it("names the typed error's tag and message on one line, secrets masked", () => {
    const exit = Exit.fail(
      new ConnectionError({ message: "cannot connect to nats://alice:s3cret@host:4222:\nrefused" })
    )
    const line = failureLine(exit)
    expect(line).toMatch(/^modelbus: ConnectionError: cannot connect to nats:\/\/alice:\S+@host:4222: refused$/)
    expect(line).not.toContain("s3cret")
  })

  it("is none for success, an interrupt and a usage error (whose problems are already printed)", () => {
    expect(failureLine(Exit.succeed(1))).toBeUndefined()
    expect(failureLine(Exit.failCause(Cause.interrupt(1)))).toBeUndefined()
    expect(failureLine(Exit.fail(showHelp))).toBeUndefined()
  })
})

describe("usage text", () => {
  it("prefixes each problem with the command and ends with where to read more", () => {
    expect(usageText(["modelbus", "infer"], ['Invalid value for flag --timeout: "abc"'])).toBe(
      'modelbus infer: Invalid value for flag --timeout: "abc"\nsee `modelbus infer --help`'
    )
  })

  it("names the subcommands a command without one needs", () => {
    const help = {
      description: "",
      usage: "",
      flags: [],
      annotations: {},
      subcommands: [
        {
          group: undefined,
          commands: [
            { name: "list", alias: undefined, shortDescription: undefined, description: "" },
            { name: "history", alias: undefined, shortDescription: undefined, description: "" }
          ]
        }
      ]
    } as unknown as HelpDoc.HelpDoc
    expect(missingCommandProblem(help)).toBe("a command is required: list, history")
    expect(missingCommandProblem({ ...help, subcommands: [] })).toBe("a command is required")
  })
})
