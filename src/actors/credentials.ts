// How an actor obtains its NATS credentials: asked of its supervisor over the fork IPC channel, so
// that they appear in neither its command line nor its environment.
import { Effect, Schema } from "effect"
import type { NatsAuth } from "../protocol/auth.js"
import { CredentialsMessage } from "../protocol/ipc.js"
import { tellSupervisor } from "./supervisorChannel.js"

/** The supervisor did not hand over the credentials the actor's settings said it would. */
export class CredentialsUnavailable extends Schema.TaggedError<CredentialsUnavailable>()("CredentialsUnavailable", {
  message: Schema.String
}) {}

const isCredentials = Schema.is(CredentialsMessage)

/** Asks the supervisor for the credentials and waits for them (at most `timeoutMs`). */
export const credentialsFromSupervisor = (timeoutMs = 10_000): Effect.Effect<NatsAuth, CredentialsUnavailable> =>
  Effect.callback<NatsAuth, CredentialsUnavailable>((resume) => {
    if (process.send === undefined || !process.connected) {
      resume(
        Effect.fail(
          new CredentialsUnavailable({ message: "no supervisor IPC channel to get the NATS credentials from" })
        )
      )
      return
    }
    const onMessage = (message: unknown) => {
      if (!isCredentials(message)) return
      done()
      resume(Effect.succeed(message.auth))
    }
    const timer = setTimeout(() => {
      done()
      resume(
        Effect.fail(
          new CredentialsUnavailable({
            message: `the supervisor did not send the NATS credentials within ${timeoutMs} ms`
          })
        )
      )
    }, timeoutMs)
    const done = () => {
      clearTimeout(timer)
      process.removeListener("message", onMessage)
    }
    process.on("message", onMessage)
    tellSupervisor({ type: "credentialsRequest" })
    return Effect.sync(done)
  })
