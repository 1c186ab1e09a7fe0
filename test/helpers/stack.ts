// The stack most integration tests run against: a nats-server on a free port, one supervisor
// serving a config, a modelbus client and a plain NATS connection; `stop` ends them in reverse.
import { type NatsConnection, connect as natsConnect } from "@nats-io/transport-node"
import { type LocalNatsServer, type LocalNatsServerOptions, startLocalNatsServer } from "../../src/cli/natsServer.js"
import { type Client, type ClientOptions, connect } from "../../src/client/index.js"
import { type CliProcess, type Exit, startSupervisor } from "./processes.js"

export interface Stack {
  readonly nats: LocalNatsServer
  /** The supervisor: a test that starts another in its place puts it here, so `stop` ends that one. */
  supervisor: CliProcess
  readonly client: Client
  readonly raw: NatsConnection
  /** Closes the connections, stops the supervisor (its exit is returned) and the server. */
  readonly stop: () => Promise<Exit>
}

/**
 * `clientOptions` tune the stack's client (e.g. `hedge: false` where a test counts every request exactly once);
 * `natsOptions` its nats-server (e.g. a config file with a small max_payload).
 */
export const startStack = async (
  config: object,
  clientOptions: Omit<ClientOptions, "servers"> = {},
  natsOptions: LocalNatsServerOptions = {}
): Promise<Stack> => {
  const nats = await startLocalNatsServer(natsOptions)
  const supervisor = await startSupervisor(nats.url, config)
  const client = await connect({ ...clientOptions, servers: nats.url })
  const raw = await natsConnect({ servers: nats.url })
  const stack: Stack = {
    nats,
    supervisor,
    client,
    raw,
    stop: async () => {
      await raw.close()
      await client.close()
      const exit = await stack.supervisor.stop()
      await nats.stop()
      return exit
    }
  }
  return stack
}
