// The model version an actor serves, swapped atomically, and a canary's candidate beside it: each request
// holds the version it was given, and a replaced version is disposed once its last request is answered.
import type { LoadedModel } from "../model/loader.js"
import type { LiveCanary } from "./canary/live.js"
import { KEYLESS, toCandidate } from "./canary/split.js"

export interface ServingVersion {
  readonly model: LoadedModel
  /** Its version number (a promoted candidate takes the number it was published under). */
  version: number
  /** Every input and output has a dynamic first dimension: requests on this version can be stacked. */
  readonly batchable: boolean
  /** Requests (and probe or shadow calls) holding this version now. */
  inflight: number
  /** Set once a newer version replaced it. */
  retired: boolean
  /** True while it is a canary's candidate, answering some requests beside `current`. */
  candidate: boolean
}

export interface ServingModel {
  /** The version new requests run on, but for those a canary gives its candidate. */
  current: ServingVersion
  /** How many times this process built a model from artifacts. */
  loads: number
  /** The canary this replica runs now (undefined: every request runs on `current`). */
  canary: LiveCanary | undefined
}

export const servingVersion = (model: LoadedModel, version: number, candidate = false): ServingVersion => {
  const { inputs, outputs } = model.signature
  const batchable = inputs.every((t) => t.shape[0] === null) && outputs.every((t) => t.shape[0] === null)
  return { model, version, batchable, inflight: 0, retired: false, candidate }
}

export const servingModel = (model: LoadedModel, version: number): ServingModel => ({
  current: servingVersion(model, version),
  loads: 1,
  canary: undefined
})

/**
 * The version a new request runs on, held until `release`: the one place that chooses it, called once
 * per request after its inputs were checked against the current version's signature (a candidate has
 * the same one). With a canary running, its candidate when the request's `draw` (canary/split.ts) falls
 * within the candidate's share; else, and always without a canary, the current version.
 */
export const acquire = (serving: ServingModel, draw: number = KEYLESS): ServingVersion => {
  const canary = serving.canary
  return hold(canary !== undefined && toCandidate(draw, canary.share) ? canary.candidate : serving.current)
}

/** Holds `v` (it is not disposed before the matching `release`). */
export const hold = (v: ServingVersion): ServingVersion => {
  v.inflight++
  return v
}

export const release = (v: ServingVersion): void => {
  v.inflight--
  if (v.retired && v.inflight === 0) v.model.dispose()
}

/** Retires `v`: disposed now if nothing holds it, else when its last holder releases it. */
export const retire = (v: ServingVersion): void => {
  v.retired = true
  if (v.inflight === 0) v.model.dispose()
}

/** Makes `next` the current version (numbered `version`); the old one is disposed when its requests are done. */
export const swapInVersion = (serving: ServingModel, next: ServingVersion, version: number): void => {
  const old = serving.current
  next.version = version
  next.candidate = false
  serving.current = next
  retire(old)
}

/** Makes `model` the current version; the old one is disposed when its requests are done. */
export const swapIn = (serving: ServingModel, model: LoadedModel, version: number): void => {
  swapInVersion(serving, servingVersion(model, version), version)
  serving.loads++
}
