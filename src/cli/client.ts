// The CLI's connection to the bus: `-s/--server`, `--prefix` and the credentials as given (flags, then
// the nats CLI's environment variables), else the defaults; one client per command, closed when it ends.
import * as Effect from "effect/Effect"
import { type ClientOptions, type ModelClient, makeModelClient } from "../client/ModelClient.js"
import { authFromEnv, mergeAuth } from "../nats/credentials.js"
import type { NatsAuth } from "../protocol/auth.js"

export interface Connection {
  readonly server: string | undefined
  readonly prefix: string | undefined
  /** Credentials given as flags. */
  readonly auth?: NatsAuth
}

type Client = ModelClient["Service"]

/** Runs `use` with a client on the command's connection. */
export const withClient = <A, E>(
  c: Connection,
  use: (client: Client) => Effect.Effect<A, E>,
  extra: Partial<ClientOptions> = {}
) =>
  Effect.scoped(
    Effect.flatMap(
      makeModelClient({
        ...(c.server === undefined ? {} : { servers: c.server }),
        ...(c.prefix === undefined ? {} : { prefix: c.prefix }),
        ...mergeAuth(c.auth, authFromEnv()),
        name: "modelbus-cli",
        ...extra
      }),
      use
    )
  )
