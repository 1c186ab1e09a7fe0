// NATS credentials as every process holds them (user and password, token, creds or nkey file, TLS
// files), and keeping their secrets out of text: server URLs shown without passwords, known secrets masked.
import * as Schema from "effect/Schema"

/** How a process authenticates to NATS; file paths are absolute by the time a connection is made. */
export const NatsAuth = Schema.Struct({
  user: Schema.optionalKey(Schema.String),
  password: Schema.optionalKey(Schema.String),
  token: Schema.optionalKey(Schema.String),
  /** A `.creds` file (user JWT and nkey seed). */
  creds: Schema.optionalKey(Schema.String),
  /** A file holding an nkey seed (`SU…`). */
  nkey: Schema.optionalKey(Schema.String),
  tls: Schema.optionalKey(
    Schema.Struct({
      ca: Schema.optionalKey(Schema.String),
      cert: Schema.optionalKey(Schema.String),
      key: Schema.optionalKey(Schema.String)
    })
  )
})
export type NatsAuth = typeof NatsAuth.Type

export const MASK = "***"

// Secrets this process has seen (passwords, tokens, nkey seeds): masked in every text it prints.
const secrets = new Set<string>()

/** Remembers a secret so that `redact` masks it wherever it appears later. */
export const rememberSecret = (secret: string | undefined): void => {
  // very short values would mask ordinary words; they are still kept out of URLs and messages we build
  if (secret !== undefined && secret.length >= 4) secrets.add(secret)
}

// scheme://userinfo@ — the userinfo ends at the last @ before the host (a password may contain @ or :)
const URL_USERINFO = /\b([a-z][a-z0-9+.-]*:\/\/)([^\s/?#]*)@/gi

const maskUserinfo = (userinfo: string): string => {
  const colon = userinfo.indexOf(":")
  return colon === -1 ? MASK : `${userinfo.slice(0, colon)}:${MASK}`
}

/** A server URL fit to show: `nats://alice:s3cret@host` → `nats://alice:***@host`, a token → `nats://***@host`. */
export const redactUrl = (url: string): string =>
  url.replace(URL_USERINFO, (_all, scheme: string, userinfo: string) => `${scheme}${maskUserinfo(userinfo)}@`)

/** `text` with the credentials of any URL in it and every remembered secret masked. */
export const redact = (text: string): string => {
  let out = redactUrl(text)
  for (const secret of secrets) if (out.includes(secret)) out = out.split(secret).join(MASK)
  return out
}
