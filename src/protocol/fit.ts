// The `fit` wire contract, declared once: the request body a client sends (training data and
// options, checked with Schema by the replica that trains) and the reply it gets back.
import * as Exit from "effect/Exit"
import * as Schema from "effect/Schema"
import * as SchemaIssue from "effect/SchemaIssue"
import { BadInput } from "./errors.js"

const PositiveInt = Schema.Int.check(Schema.isGreaterThanOrEqualTo(1))
const PositiveFinite = Schema.Finite.check(Schema.isGreaterThan(0))

/** How a copy of the model is trained (every field optional; the replica applies its defaults). */
export const FitOptions = Schema.Struct({
  epochs: Schema.optionalKey(PositiveInt),
  batchSize: Schema.optionalKey(PositiveInt),
  /** A tfjs loss name (default: the model's saved training config, else categoricalCrossentropy). */
  loss: Schema.optionalKey(Schema.String.check(Schema.isNonEmpty())),
  /** Adam's learning rate (default 0.01). */
  learningRate: Schema.optionalKey(PositiveFinite)
})
export type FitOptions = typeof FitOptions.Type

/** A subject token a caller picks for one fit's progress (letters, digits, `_`, `-`). */
const ProgressToken = Schema.String.check(Schema.isPattern(/^[A-Za-z0-9_-]{1,64}$/))

/**
 * The body of a fit request: `x` and `y` as tensors `{dtype, shape, data}` or nested number arrays
 * (checked against the model when it trains), plus the options. With `progress`, the replica
 * publishes a FitProgress after each epoch on `<prefix>.events.<model>.fit.<progress>` (a replica
 * that predates it ignores the key and only replies at the end).
 */
export const FitRequest = Schema.Struct({
  x: Schema.Unknown,
  y: Schema.Unknown,
  ...FitOptions.fields,
  progress: Schema.optionalKey(ProgressToken)
})
export type FitRequest = typeof FitRequest.Type

const decodeFitBody = Schema.decodeUnknownExit(FitRequest)
const formatIssue = SchemaIssue.makeFormatterStandardSchemaV1()

/**
 * A parsed fit body checked against FitRequest; BadInput naming each field that is wrong, what it
 * expected and what arrived (`epochs: Expected an integer, got 2.5`).
 */
export const decodeFitRequest = (body: unknown): FitRequest | BadInput => {
  const decoded = decodeFitBody(body, { errors: "all", reportInput: true })
  if (Exit.isSuccess(decoded)) return decoded.value
  const error = Exit.findErrorOption(decoded)
  const issues = error._tag === "Some" ? formatIssue(error.value.issue).issues : []
  const problems = issues.map((i) => `${i.path?.length ? i.path.map(String).join(".") : "body"}: ${i.message}`)
  return new BadInput({
    message: `fit request {x, y, epochs?, batchSize?, loss?, learningRate?}: ${problems.join("; ") || "does not decode"}`
  })
}

/** A successful fit: the version it published, the loss after each epoch, the replica that trained (decoded with this Schema). */
export const FitReply = Schema.Struct({
  version: Schema.Int.check(Schema.isGreaterThanOrEqualTo(1)),
  loss: Schema.Array(Schema.Number),
  actor: Schema.String
})
export type FitReply = typeof FitReply.Type

/** One finished epoch of a fit (published as JSON while the replica trains; decoded with this Schema). */
export const FitProgress = Schema.Struct({
  epoch: Schema.Int.check(Schema.isGreaterThanOrEqualTo(1)),
  epochs: Schema.Int.check(Schema.isGreaterThanOrEqualTo(1)),
  loss: Schema.Number,
  actor: Schema.String
})
export type FitProgress = typeof FitProgress.Type
