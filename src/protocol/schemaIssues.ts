// Decoding input someone else wrote with a Schema, into the value or one line for an error message:
// each wrong field's path, what it expected and what arrived (`version: Expected number, got "7"`).
import * as Exit from "effect/Exit"
import * as Schema from "effect/Schema"
import * as SchemaIssue from "effect/SchemaIssue"

const formatIssue = SchemaIssue.makeFormatterStandardSchemaV1()

export type Decoded<A> = { readonly ok: true; readonly value: A } | { readonly ok: false; readonly reason: string }

/** `what[0].weights[2].shape`: array indices in brackets, keys after dots. */
const pathText = (what: string, path: ReadonlyArray<PropertyKey | { readonly key: PropertyKey }> | undefined) =>
  (path ?? []).reduce<string>((text, segment) => {
    const key = typeof segment === "object" ? segment.key : segment
    return typeof key === "number" ? `${text}[${key}]` : `${text}.${String(key)}`
  }, what)

/** At most this many characters of one issue (it may quote a long value that arrived). */
const MAX_ISSUE = 200

/** A decoder for `schema`: the value, or a message naming at most 5 wrong fields (paths start at `what`). */
export const decoderOf = <A>(schema: Schema.ConstraintDecoder<A>, what: string): ((input: unknown) => Decoded<A>) => {
  const decode = Schema.decodeUnknownExit(schema)
  return (input) => {
    const decoded = decode(input, { errors: "all", reportInput: true })
    if (Exit.isSuccess(decoded)) return { ok: true, value: decoded.value }
    const error = Exit.findErrorOption(decoded)
    const issues = error._tag === "Some" ? formatIssue(error.value.issue).issues : []
    const problems = issues.slice(0, 5).map((i) => {
      const text = `${pathText(what, i.path)}: ${i.message}`
      return text.length > MAX_ISSUE ? `${text.slice(0, MAX_ISSUE)}…` : text
    })
    if (issues.length > 5) problems.push(`and ${issues.length - 5} more`)
    return { ok: false, reason: problems.join("; ") || `${what} does not decode` }
  }
}
