// The CLI's connection to the bus: `-s/--server` and `--prefix` as given (else the defaults), one
// client per command, closed when the command ends.
import { Effect } from "effect"
import { type ClientOptions, makeModelClient } from "../client/ModelClient.js"

export interface Connection {
  readonly server: string | undefined
  readonly prefix: string | undefined
}

type Client = Effect.Success<ReturnType<typeof makeModelClient>>

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
        name: "modelbus-cli",
        ...extra
      }),
      use
    )
  )
