// Reading `--fit FILE`: its JSON decoded with protocol/fit's FitRequest (the wire body, declared
// once), so a bad file is a BadInput naming the file, the shape expected and what arrived where; `x` or `y`
// given as the name of a `.npy` file (beside the JSON file) is read from it.

import { dirname, resolve } from "node:path"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import * as SchemaIssue from "effect/SchemaIssue"
import { parseNpy } from "../datasets/npy.js"
import { BadInput } from "../protocol/errors.js"
import { type FitRequest, FitRequestWithXY } from "../protocol/fit.js"
import { describe, isRecord, messageOf } from "../protocol/values.js"

const EXPECTED = `expected a JSON object {"x": inputs, "y": targets, "epochs"?, "batchSize"?, "loss"?, "learningRate"?}`

const decodeBody = Schema.decodeUnknownEffect(FitRequestWithXY)
const issuesOf = SchemaIssue.makeFormatterStandardSchemaV1()

/** The value at `keys` inside `root` (undefined when absent). */
const valueAt = (root: unknown, keys: ReadonlyArray<string>): unknown =>
  keys.reduce<unknown>((value, key) => (isRecord(value) ? value[key] : undefined), root)

/** One line per problem: where, what the schema expected, and what the file holds there. */
const problems = (body: unknown, issue: SchemaIssue.Issue): string =>
  issuesOf(issue)
    .issues.map(({ path, message }) => {
      const keys = (path ?? []).map((p) => String(typeof p === "object" ? p.key : p))
      const where = keys.length === 0 ? "the file" : keys.join(".")
      const value = valueAt(body, keys)
      return value === undefined ? `${where}: missing` : `${where}: ${message}, received ${describe(value)}`
    })
    .join("; ")

/** The fit request body in the text of `file`, or BadInput saying what is wrong with it. */
export const decodeFitFile = (file: string, text: string): Effect.Effect<FitRequest, BadInput> =>
  Effect.try({
    try: () => JSON.parse(text) as unknown,
    catch: (cause) => new BadInput({ message: `--fit ${file}: ${EXPECTED}; not valid JSON: ${messageOf(cause)}` })
  }).pipe(
    Effect.flatMap((body) =>
      decodeBody(body, { errors: "all", onExcessProperty: "error" }).pipe(
        Effect.mapError(
          (error) => new BadInput({ message: `--fit ${file}: ${EXPECTED}; ${problems(body, error.issue)}` })
        )
      )
    )
  )

/**
 * The fit body with `x` and `y` that name a `.npy` file (relative to `file`'s folder) replaced by its array;
 * `read` reads a file's bytes. BadInput names the field and the file when one cannot be read.
 */
export const withNpyArrays = (
  file: string,
  body: FitRequest,
  read: (path: string) => Promise<Uint8Array>
): Effect.Effect<FitRequest, BadInput> =>
  Effect.gen(function* () {
    let out: FitRequest = body
    for (const field of ["x", "y"] as const) {
      const value = body[field]
      if (typeof value !== "string") continue
      if (!value.toLowerCase().endsWith(".npy"))
        return yield* new BadInput({
          message: `--fit ${file}: ${field}: a string names a .npy file, received ${JSON.stringify(value)}`
        })
      const path = resolve(dirname(file), value)
      const bytes = yield* Effect.tryPromise({
        try: () => read(path),
        catch: (cause) => new BadInput({ message: `--fit ${file}: ${field}: cannot read ${path}: ${messageOf(cause)}` })
      })
      const tensor = parseNpy(path, bytes)
      if ("_tag" in tensor) return yield* new BadInput({ message: `--fit ${file}: ${field}: ${tensor.message}` })
      out = { ...out, [field]: tensor }
    }
    return out
  })
