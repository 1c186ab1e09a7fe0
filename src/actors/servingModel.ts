// The model version an actor serves, swapped atomically, and the canary's candidate beside it: each request
// holds the version it was given, and a replaced version is disposed once its last in-flight request is answered.
import type { LoadedModel } from "../model/loader.js"
import type { LiveCanary } from "./canary/live.js"
import { KEYLESS, toCandidate } from "./canary/split.js"

export interface ServingVersion {
  readonly model: LoadedModel
  /** Its version number (a promoted candidate takes the number it was published under). */
  version: number
  /** Requests running on this version now. */
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

export const servingVersion = (model: LoadedModel, version: number, candidate = false): ServingVersion => ({
  model,
  version,
  inflight: 0,
  retired: false,
  candidate
})

export const servingModel = (model: LoadedModel, version: number): ServingModel => ({
  current: servingVersion(model, version),
  loads: 1,
  canary: undefined
})

/**
 * The one place a request's version is chosen: the canary's candidate when the request's `draw`
 * (canary/split.ts) falls within its share, else the current version. Call `release` when it is answered.
 */
export const acquire = (serving: ServingModel, draw: number = KEYLESS): ServingVersion => {
  const canary = serving.canary
  const v = canary !== undefined && toCandidate(draw, canary.share) ? canary.candidate : serving.current
  v.inflight++
  return v
}

export const release = (v: ServingVersion): void => {
  v.inflight--
  if (v.retired && v.inflight === 0) v.model.dispose()
}

/** Retires `v`: disposed now if idle, else when its last request is answered. */
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
