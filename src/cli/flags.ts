// The flags commands share: the connection flags like the `nats` CLI (-s/--server, --prefix, --user
// --password --token --creds --nkey --tlsca --tlscert --tlskey) read into a Connection, --json, defaults shown in --help.
import * as Flag from "effect/cli/Flag"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import type { NatsAuth } from "../protocol/auth.js"
import type { Connection } from "./client.js"

const text = (name: string, description: string) =>
  Flag.String(name).pipe(Flag.withDescription(description), Flag.optional)
const secret = (name: string, description: string) =>
  Flag.Redacted(name).pipe(Flag.withDescription(description), Flag.optional)
const file = (name: string, description: string) =>
  Flag.File(name).pipe(Flag.withDescription(description), Flag.optional)

/** Where and how to connect; spread into a command's flags. */
export const connectionFlags = {
  server: Flag.String("server").pipe(
    Flag.withAlias("s"),
    Flag.withDescription(
      "NATS server URL(s), comma-separated; tls://… requires TLS (default: $NATS_URL, else nats://127.0.0.1:4222)"
    ),
    Flag.optional
  ),
  prefix: text("prefix", "Subject prefix of the deployment (default: modelbus)"),
  user: text("user", "NATS user ($NATS_USER)"),
  password: secret("password", "NATS password ($NATS_PASSWORD)"),
  token: secret("token", "NATS authentication token ($NATS_TOKEN)"),
  creds: file("creds", "NATS credentials file: user JWT and nkey seed ($NATS_CREDS)"),
  nkey: file("nkey", "File holding a user nkey seed ($NATS_NKEY)"),
  tlsca: file("tlsca", "CA certificate file to verify the server with ($NATS_CA)"),
  tlscert: file("tlscert", "Client certificate file, for TLS client authentication ($NATS_CERT)"),
  tlskey: file("tlskey", "Private key file of the client certificate ($NATS_KEY)")
}

export interface ConnectionFlags {
  readonly server: Option.Option<string>
  readonly prefix: Option.Option<string>
  readonly user: Option.Option<string>
  readonly password: Option.Option<Redacted.Redacted<string>>
  readonly token: Option.Option<Redacted.Redacted<string>>
  readonly creds: Option.Option<string>
  readonly nkey: Option.Option<string>
  readonly tlsca: Option.Option<string>
  readonly tlscert: Option.Option<string>
  readonly tlskey: Option.Option<string>
}

const given = <A, B>(o: Option.Option<A>, key: string, f: (a: A) => B): Record<string, B> =>
  Option.isSome(o) ? { [key]: f(o.value) } : {}
const same = <A>(a: A) => a

/** The credentials given as flags (the environment and a config file are merged in later, below them). */
export const authFromFlags = (o: ConnectionFlags): NatsAuth => {
  const tls = { ...given(o.tlsca, "ca", same), ...given(o.tlscert, "cert", same), ...given(o.tlskey, "key", same) }
  return {
    ...given(o.user, "user", same),
    ...given(o.password, "password", Redacted.value),
    ...given(o.token, "token", Redacted.value),
    ...given(o.creds, "creds", same),
    ...given(o.nkey, "nkey", same),
    ...(Object.keys(tls).length === 0 ? {} : { tls })
  }
}

/** The command's connection from its flags. */
export const connectionOf = (o: ConnectionFlags): Connection => ({
  server: Option.getOrUndefined(o.server),
  prefix: Option.getOrUndefined(o.prefix),
  auth: authFromFlags(o)
})

/** A description ending with the value a flag takes when it is not given, as `--help` shows it. */
export const withDefaultText = (description: string, value: string | number): string =>
  `${description} (default: ${value})`

/** An integer flag whose default `--help` shows (effect/cli does not print `withDefault` values itself). */
export const intFlag = (name: string, value: number, description: string) =>
  Flag.Int(name).pipe(Flag.withDescription(withDefaultText(description, value)), Flag.withDefault(value))

/** `--json`: print `what` as one JSON document on stdout instead of text. */
export const jsonFlag = (what: string) =>
  Flag.Boolean("json").pipe(Flag.withDescription(`Print ${what} as JSON`), Flag.withDefault(false))
