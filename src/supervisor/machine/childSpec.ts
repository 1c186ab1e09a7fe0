// OTP child specifications and exit reasons, with the pure rule that decides whether a child
// that exited is restarted (permanent: always; transient: only if abnormal; temporary: never).
import type { BackoffPolicy } from "./backoff.js"
import type { RecycleLimits } from "./recycle.js"

export const RestartType = {
  permanent: "permanent",
  transient: "transient",
  temporary: "temporary"
} as const
export type RestartType = (typeof RestartType)[keyof typeof RestartType]

/** Milliseconds to wait after SIGTERM before SIGKILL, kill at once, or wait as long as it takes (supervisors). */
export type Shutdown = number | "brutal_kill" | "infinity"

/** A worker is an actor process; a supervisor child is a supervisor of its own children. */
export const ChildType = { worker: "worker", supervisor: "supervisor" } as const
export type ChildType = (typeof ChildType)[keyof typeof ChildType]

export interface ChildSpec {
  readonly id: string
  readonly restart: RestartType
  readonly shutdown: Shutdown
  /** Default worker. */
  readonly type?: ChildType
  /** A child that reports nothing for this long is killed and restarted as a crash (workers). */
  readonly hangTimeoutMs?: number
  /**
   * Until its first report, a child is judged by this longer limit instead (a process still loading its
   * runtime on a busy host cannot report yet): Kubernetes' startup probe beside its liveness probe.
   */
  readonly startTimeoutMs?: number
  /** Delays between restarts of a child that keeps crashing; none: restart at once (OTP). */
  readonly backoff?: BackoffPolicy
  /** Limits past which a serving child is replaced by a fresh one, overlap first (workers). */
  readonly recycle?: RecycleLimits
}

/** How a child process ended. `normal` is exit code 0 (a drained shutdown). */
export type ExitReason =
  | { readonly kind: "normal" }
  | { readonly kind: "code"; readonly code: number }
  | { readonly kind: "signal"; readonly signal: string }
  | { readonly kind: "hang"; readonly silentMs: number }
  | { readonly kind: "startFailed"; readonly message: string }
  /** A supervisor child gave up (its restart intensity was exceeded). */
  | { readonly kind: "gaveUp"; readonly message: string }

export const exitReasonOf = (code: number | null, signal: string | null): ExitReason =>
  signal !== null ? { kind: "signal", signal } : code === 0 ? { kind: "normal" } : { kind: "code", code: code ?? -1 }

export const isAbnormal = (reason: ExitReason): boolean => reason.kind !== "normal"

export const describeExit = (reason: ExitReason): string => {
  switch (reason.kind) {
    case "normal":
      return "exited normally"
    case "code":
      return `exited with code ${reason.code}`
    case "signal":
      return `killed by ${reason.signal}`
    case "hang":
      return `no heartbeat for ${reason.silentMs} ms`
    case "startFailed":
      return `failed to start: ${reason.message}`
    case "gaveUp":
      return `gave up: ${reason.message}`
  }
}

/** OTP's restart rule for one child. */
export const shouldRestart = (restart: RestartType, reason: ExitReason): boolean =>
  restart === "permanent" || (restart === "transient" && isAbnormal(reason))
