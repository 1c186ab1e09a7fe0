// Which NATS `supervise` and `up` serve on and what `up` tells the user to type next (pure decisions): --server,
// else $NATS_URL, else the config's servers, else the default address, where `up` may start its own nats-server.
import { DEFAULT_SERVER, serverList } from "../nats/connection.js"

/** Where the servers came from; only `default` lets `up` start a nats-server of its own. */
export const ServerSource = {
  flag: "--server",
  env: "$NATS_URL",
  config: "the config's nats.servers",
  default: "the default address"
} as const
export type ServerSource = (typeof ServerSource)[keyof typeof ServerSource]

export interface ServerChoice {
  readonly servers: string | ReadonlyArray<string>
  readonly source: ServerSource
}

const given = (servers: string | ReadonlyArray<string> | undefined): boolean =>
  servers !== undefined && serverList(servers).length > 0

/** The first of --server, $NATS_URL, the config's servers that says something (an empty one does not), else the default. */
export const chooseServers = (
  flag: string | undefined,
  env: string | undefined,
  config: string | ReadonlyArray<string> | undefined
): ServerChoice => {
  if (given(flag)) return { servers: flag!, source: ServerSource.flag }
  if (given(env)) return { servers: env!, source: ServerSource.env }
  if (given(config)) return { servers: config!, source: ServerSource.config }
  return { servers: DEFAULT_SERVER, source: ServerSource.default }
}

/** The default address's port: where `up` starts its own nats-server when nothing answers there. */
export const DEFAULT_PORT = Number(new URL(DEFAULT_SERVER).port)

/** True for the default address alone, which every command uses when given no --server and no $NATS_URL. */
export const isDefaultServer = (servers: string | ReadonlyArray<string>): boolean => {
  const list = serverList(servers)
  return list.length === 1 && list[0] === DEFAULT_SERVER
}

/**
 * The command the ready line suggests, runnable as printed from a clone (`npx modelbus`, as the README says) in
 * a shell without $NATS_URL: `-s` appears unless the servers are the default address. `shown` is the servers as
 * they may be printed (credentials masked).
 */
export const tryCommand = (model: string, servers: string | ReadonlyArray<string>, shown: string): string =>
  `npx modelbus infer ${model}${isDefaultServer(servers) ? "" : ` -s ${shown}`} --input '[[5.1,3.5,1.4,0.2]]'`

/** What `up` prints when its own nats-server could not take the default port, so other shells find it. */
export const exportHint = (url: string, reason: string): string =>
  `${reason}; nats-server listens on ${url} instead. In other shells, first:\n  export NATS_URL=${url}`
