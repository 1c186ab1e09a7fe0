// The model version an actor serves, swapped atomically: each request holds the version it was
// admitted on, and a replaced version is disposed once its last request is answered.
import type { LoadedModel } from "../model/loader.js"

export interface ServingVersion {
  readonly model: LoadedModel
  readonly version: number
  /** Every input and output has a dynamic first dimension: requests on this version can be stacked. */
  readonly batchable: boolean
  /** Requests (and probe calls) holding this version now. */
  inflight: number
  /** Set once a newer version replaced it. */
  retired: boolean
}

export interface ServingModel {
  /** The version new requests run on. */
  current: ServingVersion
  /** How many times this process built a model from artifacts. */
  loads: number
}

const servingVersion = (model: LoadedModel, version: number): ServingVersion => {
  const { inputs, outputs } = model.signature
  const batchable = inputs.every((t) => t.shape[0] === null) && outputs.every((t) => t.shape[0] === null)
  return { model, version, batchable, inflight: 0, retired: false }
}

export const servingModel = (model: LoadedModel, version: number): ServingModel => ({
  current: servingVersion(model, version),
  loads: 1
})

/**
 * The version a new request runs on, held until `release`: the one place that chooses it, called
 * once per request as it is admitted (its inputs are checked against that version's signature).
 */
export const acquire = (serving: ServingModel): ServingVersion => hold(serving.current)

/** Holds `v` (it is not disposed before the matching `release`). */
export const hold = (v: ServingVersion): ServingVersion => {
  v.inflight++
  return v
}

export const release = (v: ServingVersion): void => {
  v.inflight--
  if (v.retired && v.inflight === 0) v.model.dispose()
}

/** Makes `model` the current version; the old one is disposed when its requests are done. */
export const swapIn = (serving: ServingModel, model: LoadedModel, version: number): void => {
  const old = serving.current
  serving.current = servingVersion(model, version)
  serving.loads++
  old.retired = true
  if (old.inflight === 0) old.model.dispose()
}
