// The timing of a model's batch consumer, decided apart from its effects: its AckWait (how long a replica
// holding a chunk may stay silent before the chunk goes to another) and its BackOff (the growing delays
// before each redelivery of a chunk whose replica went silent: died, hung).
//
// Where the measured value lives: in the consumer itself. JetStream has no per-message ack wait, and the
// consumer is shared by every job of the model, so the ack wait is the consumer's. Its description
// (nats-server 2.9 has no consumer metadata) says how it was chosen: `set` by a submitter's --ack-wait
// (replicas leave it alone), `unmeasured` (30 s until a replica timed a model call), or `measured` (a replica
// brought it to max(1 s, 4 × the longest model call it timed), in whole seconds). A measured ack wait only
// grows: replicas of one model may time their calls differently, and the slowest one must keep its chunks;
// a submit without --ack-wait keeps a measured one, so a new job's first crash is not held 30 s.
//
// BackOff on nats-server 2.9: delivery n of a chunk may stay unacknowledged BackOff[n-1] (the last entry for
// later ones) before it is redelivered, and the server sets AckWait to BackOff[0] and requires
// MaxDeliver > its length. So BackOff = ackWait × 1, 2, 4, … (at most 8×), one entry per delivery but the last.
/** The shortest ack wait: a replica sends an in-progress ack every KEEP_ALIVE_MS while it works a chunk. */
export const ACK_WAIT_FLOOR_MS = 1_000

/** How often a replica working a chunk says so (an in-progress ack), below any ack wait by 4×. */
export const KEEP_ALIVE_MS = ACK_WAIT_FLOOR_MS / 4

/** A measured ack wait is this many times the longest model call (the stretch a replica cannot ack). */
export const ACK_WAIT_CALLS = 4

/** The ack wait before any replica timed a call, and with no --ack-wait. */
export const UNMEASURED_ACK_WAIT_MS = 30_000

/** Each redelivery's delay is this factor of the previous one's... */
export const BACKOFF_GROWTH = 2
/** ...up to this factor of the ack wait. */
export const BACKOFF_MAX_FACTOR = 8

export type AckWaitMode = "set" | "unmeasured" | "measured"

const DESCRIPTIONS: Readonly<Record<AckWaitMode, string>> = {
  set: "modelbus batch: ack wait set by the submitter",
  unmeasured: "modelbus batch: ack wait not measured yet",
  measured: "modelbus batch: ack wait measured from model calls"
}

/** The consumer description that records how its ack wait was chosen. */
export const timingDescription = (mode: AckWaitMode): string => DESCRIPTIONS[mode]

/** How the consumer's ack wait was chosen, from its description; one modelbus did not write is `set` (kept). */
export const modeOfDescription = (description: string | undefined): AckWaitMode =>
  (Object.keys(DESCRIPTIONS) as Array<AckWaitMode>).find((mode) => DESCRIPTIONS[mode] === description) ?? "set"

/** The ack wait that covers calls of up to `longestCallMs`: max(floor, 4 × it), rounded up to whole seconds. */
export const measuredAckWaitMs = (longestCallMs: number): number =>
  Math.max(ACK_WAIT_FLOOR_MS, Math.ceil((ACK_WAIT_CALLS * longestCallMs) / 1_000) * 1_000)

/**
 * The delay after each delivery but the last (`maxDeliver` - 1 of them; the server uses the last for later
 * deliveries): the ack wait, then doubling, up to BACKOFF_MAX_FACTOR × it. Empty when a chunk is delivered once.
 */
export const backoffMs = (ackWaitMs: number, maxDeliver: number): Array<number> =>
  Array.from({ length: Math.max(0, maxDeliver - 1) }, (_, i) =>
    Math.min(ackWaitMs * BACKOFF_GROWTH ** i, ackWaitMs * BACKOFF_MAX_FACTOR)
  )

export interface AckWaitChoice {
  readonly mode: AckWaitMode
  readonly ackWaitMs: number
}

/**
 * What a submitter writes: its --ack-wait (`set`) when given; else a measured ack wait the consumer already
 * has, kept; else `unmeasured`, until a replica times a call.
 */
export const submittedAckWait = (existing: AckWaitChoice | undefined, overrideMs: number | undefined): AckWaitChoice =>
  overrideMs !== undefined
    ? { mode: "set", ackWaitMs: overrideMs }
    : existing?.mode === "measured"
      ? existing
      : { mode: "unmeasured", ackWaitMs: UNMEASURED_ACK_WAIT_MS }

/**
 * The ack wait a replica that timed calls of up to `longestCallMs` writes (as `measured`), or undefined to
 * leave the consumer as it is: never over a submitter's --ack-wait, always over the unmeasured default, and
 * otherwise only upwards.
 */
export const measuredAckWait = (current: AckWaitChoice, longestCallMs: number): number | undefined => {
  const proposed = measuredAckWaitMs(longestCallMs)
  if (current.mode === "set") return undefined
  if (current.mode === "unmeasured") return proposed
  return proposed > current.ackWaitMs ? proposed : undefined
}

const NS_PER_MS = 1_000_000

/** The consumer config fields of a choice, for `maxDeliver` deliveries. */
export const timingConfig = (choice: AckWaitChoice, maxDeliver: number) => ({
  description: timingDescription(choice.mode),
  ack_wait: choice.ackWaitMs * NS_PER_MS,
  backoff: backoffMs(choice.ackWaitMs, maxDeliver).map((ms) => ms * NS_PER_MS),
  max_deliver: maxDeliver
})

/** The choice a consumer config holds. */
export const choiceOfConfig = (config: {
  readonly description?: string
  readonly ack_wait?: number
}): AckWaitChoice => ({
  mode: modeOfDescription(config.description),
  ackWaitMs: Math.round((config.ack_wait ?? UNMEASURED_ACK_WAIT_MS * NS_PER_MS) / NS_PER_MS)
})
