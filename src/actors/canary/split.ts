// The canary split as a pure decision: a request's draw in [0, 1) — a hash of its sticky key (one key,
// one version while the split holds) or a random number — against the candidate's share; no key, stable.

import type { HostTensor } from "../../protocol/tensor.js"
import type { StickyKey } from "../../registry/canaryState.js"

/** A draw no share reaches: the request runs on the stable version (a sticky split's keyless requests). */
export const KEYLESS = 1

const FNV_OFFSET = 0x811c9dc5
const FNV_PRIME = 0x01000193

const fnv1a = (hash: number, bytes: Uint8Array): number => {
  let h = hash
  for (let i = 0; i < bytes.length; i++) h = Math.imul(h ^ bytes[i]!, FNV_PRIME)
  return h
}

/** murmur3's finaliser: every input bit moves the high bits the draw is read from. */
const fmix32 = (hash: number): number => {
  let h = hash
  h ^= h >>> 16
  h = Math.imul(h, 0x85ebca6b)
  h ^= h >>> 13
  h = Math.imul(h, 0xc2b2ae35)
  h ^= h >>> 16
  return h >>> 0
}

/** The draw of `key` under `salt` (the canary's id): the same on every replica and process, in [0, 1). */
export const hashDraw = (salt: Uint8Array, key: Uint8Array): number =>
  fmix32(fnv1a(fnv1a(FNV_OFFSET, salt), key)) / 2 ** 32

const encoder = new TextEncoder()

export const saltOf = (canaryId: string): Uint8Array => encoder.encode(canaryId)

/** What a sticky split reads from a request: its headers (a NATS message's) and its checked inputs. */
export interface KeyedRequest {
  readonly headers?: { get(name: string): string } | undefined
}

/**
 * The draw of a request under a sticky split: the hash of its header's value or of its input's bytes;
 * KEYLESS when the request carries no such header (an empty value counts as none) or input.
 */
export const stickyDraw = (
  sticky: StickyKey,
  salt: Uint8Array,
  msg: KeyedRequest,
  inputs: Readonly<Record<string, HostTensor>>
): number => {
  if (sticky.kind === "header") {
    const value = msg.headers?.get(sticky.name)
    return value === undefined || value === "" ? KEYLESS : hashDraw(salt, encoder.encode(value))
  }
  const input = inputs[sticky.name]
  if (input === undefined) return KEYLESS
  const { data } = input
  return hashDraw(salt, new Uint8Array(data.buffer, data.byteOffset, data.byteLength))
}

/** True when a request of `draw` runs on the candidate, whose share of requests is `share` (0..1). */
export const toCandidate = (draw: number, share: number): boolean => draw < share
