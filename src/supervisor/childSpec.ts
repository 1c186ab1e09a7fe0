// OTP child specifications and exit reasons, with the pure rule that decides whether a child
// that exited is restarted (permanent: always; transient: only if abnormal; temporary: never).
export const RestartType = {
  permanent: "permanent",
  transient: "transient",
  temporary: "temporary"
} as const
export type RestartType = (typeof RestartType)[keyof typeof RestartType]

/** Milliseconds to wait after SIGTERM before SIGKILL, or kill at once. */
export type Shutdown = number | "brutal_kill"

export interface ChildSpec {
  readonly id: string
  readonly restart: RestartType
  readonly shutdown: Shutdown
}

/** How a child process ended. `normal` is exit code 0 (a drained shutdown). */
export type ExitReason =
  | { readonly kind: "normal" }
  | { readonly kind: "code"; readonly code: number }
  | { readonly kind: "signal"; readonly signal: string }
  | { readonly kind: "hang"; readonly silentMs: number }
  | { readonly kind: "startFailed"; readonly message: string }

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
  }
}

/** OTP's restart rule for one child. */
export const shouldRestart = (restart: RestartType, reason: ExitReason): boolean =>
  restart === "permanent" || (restart === "transient" && isAbnormal(reason))
