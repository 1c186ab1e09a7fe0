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
 * (checked against the model when it trains), plus the options. Training data larger than one message
 * goes through the Object Store instead: `data` names an object of the registry's artifacts bucket
 * holding the msgpack body `{x, y}` (then `x` and `y` are left out). With `progress`, the replica
 * publishes a FitProgress after each epoch on `<prefix>.events.<model>.fit.<progress>` (a replica
 * that predates it ignores the key and only replies at the end).
 */
const WithData = Schema.Struct({
  x: Schema.optionalKey(Schema.Unknown),
  y: Schema.optionalKey(Schema.Unknown),
  data: Schema.optionalKey(Schema.String.check(Schema.isNonEmpty())),
  ...FitOptions.fields,
  progress: Schema.optionalKey(ProgressToken)
})
export const FitRequest = WithData
export type FitRequest = typeof FitRequest.Type

/** A body without `data` carries its training data: `x` and `y` are required (what a `--fit` file holds). */
export const FitRequestWithXY = Schema.Struct({ ...WithData.fields, x: Schema.Unknown, y: Schema.Unknown })
const WithXY = FitRequestWithXY

const decodeWithData = Schema.decodeUnknownExit(WithData)
const decodeWithXY = Schema.decodeUnknownExit(WithXY)
const formatIssue = SchemaIssue.makeFormatterStandardSchemaV1()

/**
 * A parsed fit body checked against FitRequest (`x` and `y` required unless `data` names them);
 * BadInput naming each field that is wrong, what it expected and what arrived (`epochs: Expected an
 * integer, got 2.5`).
 */
export const decodeFitRequest = (body: unknown): FitRequest | BadInput => {
  const byData = typeof body === "object" && body !== null && "data" in body
  const decoded = byData
    ? decodeWithData(body, { errors: "all", reportInput: true })
    : decodeWithXY(body, { errors: "all", reportInput: true })
  if (Exit.isSuccess(decoded)) return decoded.value
  const error = Exit.findErrorOption(decoded)
  const issues = error._tag === "Some" ? formatIssue(error.value.issue).issues : []
  const problems = issues.map((i) => `${i.path?.length ? i.path.map(String).join(".") : "body"}: ${i.message}`)
  const shape = byData ? "{data, epochs?" : "{x, y, epochs?"
  return new BadInput({
    message: `fit request ${shape}, batchSize?, loss?, learningRate?}: ${problems.join("; ") || "does not decode"}`
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
