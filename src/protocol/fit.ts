// The `fit` wire contract, declared once: the request body a client sends (training data and
// options, checked with Schema by the replica that trains) and the reply it gets back.
import { Schema } from "effect"

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

/**
 * The body of a fit request: `x` and `y` as tensors `{dtype, shape, data}` or nested number arrays
 * (checked against the model when it trains), plus the options.
 */
export const FitRequest = Schema.Struct({
  x: Schema.Unknown,
  y: Schema.Unknown,
  ...FitOptions.fields
})
export type FitRequest = typeof FitRequest.Type

/** A successful fit: the version it published, the loss after each epoch, the replica that trained. */
export interface FitReply {
  readonly version: number
  readonly loss: ReadonlyArray<number>
  readonly actor: string
}
