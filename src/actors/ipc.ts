// The actor's end of the IPC channel to its supervisor: sending a message when this process has
// a supervisor, ignoring a channel that has closed.
import type { ActorMessage } from "../protocol/ipc.js"

/** Sends a message to the supervisor if this process has one; a closed channel is ignored. */
export const tellSupervisor = (message: ActorMessage): void => {
  if (process.send !== undefined && process.connected) process.send(message, undefined, undefined, () => {})
}
