// Promoting a canary on a replica without loading anything: when the registry's new current version has
// the candidate's artifacts, the loaded candidate becomes the current version (held between the two writes).
import { retire, type ServingModel, swapInVersion } from "../servingModel.js"
import { haltCanary, type LiveCanary } from "./live.js"

/** Candidates of promoted canaries whose version has not arrived yet, per serving model. */
const held = new WeakMap<ServingModel, LiveCanary>()

/** Keeps a promoted canary's candidate loaded (answering nothing) until its version is published. */
export const holdForPromotion = (serving: ServingModel, canary: LiveCanary): void => {
  const before = held.get(serving)
  if (before !== undefined && before !== canary) retire(before.candidate)
  held.set(serving, canary)
}

/** Disposes a held candidate (once idle): the replica is shutting down or moved on. */
export const dropHeld = (serving: ServingModel): void => {
  const before = held.get(serving)
  held.delete(serving)
  if (before !== undefined) retire(before.candidate)
}

/**
 * When the version published as `version` holds the artifacts `digest` of the running (or held)
 * candidate, makes that candidate the current version and ends its canary here: true. Any held
 * candidate not taken is disposed once idle.
 */
export const adoptCandidate = (serving: ServingModel, digest: string, version: number): boolean => {
  const live = serving.canary
  const waiting = held.get(serving)
  const match =
    live !== undefined && live.state.candidate.digest === digest
      ? live
      : waiting?.state.candidate.digest === digest
        ? waiting
        : undefined
  held.delete(serving)
  if (waiting !== undefined && waiting !== match) retire(waiting.candidate)
  if (match === undefined) return false
  if (match === live) {
    haltCanary(live)
    serving.canary = undefined
  }
  swapInVersion(serving, match.candidate, version)
  return true
}
