// The actor's end of the IPC channel to its supervisor: sending a message when this process has
// a supervisor, ignoring a channel that has closed, waiting until a last message is handed over or the channel is gone.
import { Effect } from "effect"
import { parentGone } from "../lifecycle/runProcess.js"
import type { ActorMessage } from "../protocol/ipc.js"

/** Sends a message to the supervisor if this process has one; a closed channel is ignored. */
export const tellSupervisor = (message: ActorMessage): void => {
  if (process.send !== undefined && process.connected) process.send(message, undefined, undefined, () => {})
}

/** Sends a message and completes once the channel has taken it (at once without a supervisor): before an exit. */
export const tellSupervisorBeforeExit = (message: ActorMessage): Effect.Effect<void> =>
  Effect.callback<void>((resume) => {
    if (process.send === undefined || !process.connected) return resume(Effect.void)
    process.send(message, undefined, undefined, () => resume(Effect.void))
  })

/** Completes once the supervisor's IPC channel is gone, also when it closed before this was asked. */
export const supervisorGone: Effect.Effect<void> = Effect.suspend(() =>
  process.send !== undefined && !process.connected ? Effect.void : parentGone
)
