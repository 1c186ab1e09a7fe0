// The model version an actor serves, swapped atomically: each request holds the version it
// started on, and a replaced version is disposed once its last in-flight request is answered.
import type { LoadedModel } from "../model/loader.js"

export interface ServingVersion {
  readonly model: LoadedModel
  readonly version: number
  /** Requests running on this version now. */
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

export const servingModel = (model: LoadedModel, version: number): ServingModel => ({
  current: { model, version, inflight: 0, retired: false },
  loads: 1
})

/** Takes the current version for one request; call `release` when it is answered. */
export const acquire = (serving: ServingModel): ServingVersion => {
  const v = serving.current
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
  serving.current = { model, version, inflight: 0, retired: false }
  serving.loads++
  old.retired = true
  if (old.inflight === 0) old.model.dispose()
}
