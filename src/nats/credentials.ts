// Where a process's NATS credentials come from and what nats.js is given: flags over environment over
// config file, credentials written in a server URL, tls:// URLs, and creds/nkey/TLS files read at connect.
import { readFileSync } from "node:fs"
import { isAbsolute, resolve } from "node:path"
import { type Authenticator, credsAuthenticator, nkeyAuthenticator, type TlsOptions } from "@nats-io/transport-node"
import { type NatsAuth, redactUrl, rememberSecret } from "../protocol/auth.js"
import { messageOf } from "../protocol/values.js"

export type { NatsAuth } from "../protocol/auth.js"

/** The nats CLI's environment variables (`NATS_TOKEN` too), as credentials. */
export const authFromEnv = (env: NodeJS.ProcessEnv = process.env): NatsAuth =>
  compact({
    user: env.NATS_USER,
    password: env.NATS_PASSWORD,
    token: env.NATS_TOKEN,
    creds: env.NATS_CREDS,
    nkey: env.NATS_NKEY,
    tls: compactTls({ ca: env.NATS_CA, cert: env.NATS_CERT, key: env.NATS_KEY })
  })

/** The variables a forked process must not inherit: its credentials come over IPC instead. */
export const CREDENTIAL_ENV = [
  "NATS_USER",
  "NATS_PASSWORD",
  "NATS_TOKEN",
  "NATS_CREDS",
  "NATS_NKEY",
  "NATS_CA",
  "NATS_CERT",
  "NATS_KEY"
] as const

type Tls = NonNullable<NatsAuth["tls"]>

const compactTls = (tls: { [K in keyof Tls]?: string | undefined }): Tls | undefined => {
  const out = Object.fromEntries(Object.entries(tls).filter(([, v]) => v !== undefined && v !== "")) as Tls
  return Object.keys(out).length === 0 ? undefined : out
}

const compact = (auth: { [K in keyof NatsAuth]?: NatsAuth[K] | undefined }): NatsAuth =>
  Object.fromEntries(Object.entries(auth).filter(([, v]) => v !== undefined && v !== "")) as NatsAuth

/** Each setting from the first source that has it (give them highest precedence first: flags, environment, config). */
export const mergeAuth = (...sources: ReadonlyArray<NatsAuth | undefined>): NatsAuth => {
  const pick = <K extends keyof Omit<NatsAuth, "tls">>(key: K) => sources.find((s) => s?.[key] !== undefined)?.[key]
  const pickTls = (key: keyof Tls) => sources.find((s) => s?.tls?.[key] !== undefined)?.tls?.[key]
  return compact({
    user: pick("user"),
    password: pick("password"),
    token: pick("token"),
    creds: pick("creds"),
    nkey: pick("nkey"),
    tls: compactTls({ ca: pickTls("ca"), cert: pickTls("cert"), key: pickTls("key") })
  })
}

/** The same credentials with every file path made absolute against `baseDir` (a config file's folder). */
export const resolveAuthPaths = (auth: NatsAuth, baseDir: string): NatsAuth => {
  const abs = (p: string | undefined) => (p === undefined || isAbsolute(p) ? p : resolve(baseDir, p))
  return compact({
    ...auth,
    creds: abs(auth.creds),
    nkey: abs(auth.nkey),
    tls:
      auth.tls === undefined
        ? undefined
        : compactTls({ ca: abs(auth.tls.ca), cert: abs(auth.tls.cert), key: abs(auth.tls.key) })
  })
}

/** A server URL taken apart: the URL without credentials, whether it asks for TLS, the credentials it held. */
export interface ServerUrl {
  readonly url: string
  readonly tls: boolean
  readonly auth: NatsAuth
}

const SCHEME = /^([a-z][a-z0-9+.-]*):\/\//i

export const parseServerUrl = (server: string): ServerUrl => {
  const scheme = SCHEME.exec(server)?.[1]?.toLowerCase()
  const tls = scheme === "tls"
  if (scheme === undefined) return { url: server, tls, auth: {} }
  const rest = server.slice(scheme.length + 3)
  const hostStart = rest.search(/[/?#]/)
  const authority = hostStart === -1 ? rest : rest.slice(0, hostStart)
  const at = authority.lastIndexOf("@")
  if (at === -1) return { url: server, tls, auth: {} }
  const userinfo = authority.slice(0, at)
  const clean = `${scheme}://${rest.slice(at + 1)}`
  const decode = (s: string) => {
    try {
      return decodeURIComponent(s)
    } catch {
      return s
    }
  }
  const colon = userinfo.indexOf(":")
  const auth: NatsAuth =
    colon === -1
      ? compact({ token: decode(userinfo) })
      : compact({ user: decode(userinfo.slice(0, colon)), password: decode(userinfo.slice(colon + 1)) })
  return { url: clean, tls, auth }
}

/**
 * The servers without credentials, and the credentials to use with them: those given, else those
 * of the first URL that holds some (each secret is remembered, to be masked in any text).
 */
export const separateCredentials = (
  servers: ReadonlyArray<string>,
  given: NatsAuth = {}
): { readonly servers: Array<string>; readonly auth: NatsAuth } => {
  const parsed = servers.map(parseServerUrl)
  for (const p of parsed) for (const secret of [p.auth.password, p.auth.token]) rememberSecret(secret)
  for (const secret of [given.password, given.token]) rememberSecret(secret)
  const auth = mergeAuth(given, parsed.find((p) => Object.keys(p.auth).length > 0)?.auth)
  return { servers: parsed.map((p) => p.url), auth }
}

/** The credential problem in `auth`, if any: two ways to authenticate at once, or a password without a user. */
export const authProblem = (auth: NatsAuth): string | undefined => {
  const methods = [
    auth.user !== undefined || auth.password !== undefined ? "user/password" : undefined,
    auth.token !== undefined ? "token" : undefined,
    auth.creds !== undefined ? "creds" : undefined,
    auth.nkey !== undefined ? "nkey" : undefined
  ].filter((m) => m !== undefined)
  if (methods.length > 1) return `give one way to authenticate to NATS, not ${methods.join(" and ")}`
  if (auth.password !== undefined && auth.user === undefined) return "a NATS password needs a user"
  return undefined
}

/** What nats.js's `connect` is given for a list of servers and credentials. */
export interface ConnectAuth {
  readonly servers: Array<string>
  readonly user?: string
  readonly pass?: string
  readonly token?: string
  readonly authenticator?: Authenticator
  readonly tls?: TlsOptions
}

const readFile = (what: string, path: string): Uint8Array => {
  try {
    return readFileSync(path)
  } catch (cause) {
    throw new Error(`cannot read the NATS ${what} file ${path}: ${messageOf(cause)}`)
  }
}

/** The nkey seed in a file: its line that starts with `S` (the nats CLI's and nsc's files hold just that). */
const seedOf = (path: string): Uint8Array => {
  const text = new TextDecoder().decode(readFile("nkey", path))
  const seed = text
    .split(/\r?\n/)
    .map((l) => l.trim())
    .find((l) => /^S[A-Z2-7]{50,}$/.test(l))
  if (seed === undefined) throw new Error(`the NATS nkey file ${path} holds no nkey seed (a line starting with S)`)
  rememberSecret(seed)
  return new TextEncoder().encode(seed)
}

/**
 * Builds nats.js's options: credentials given explicitly win over those in a URL; URLs are passed on
 * without credentials; a tls:// URL or any TLS file requires TLS. Throws (with a message free of secrets)
 * when the credentials conflict or a file cannot be read.
 */
export const connectAuth = (servers: ReadonlyArray<string>, given: NatsAuth = {}): ConnectAuth => {
  const parsed = servers.map(parseServerUrl)
  const { auth } = separateCredentials(servers, given)
  const problem = authProblem(auth)
  if (problem !== undefined) throw new Error(problem)
  const files = auth.tls
  const tls: TlsOptions | undefined =
    files !== undefined
      ? {
          ...(files.ca === undefined ? {} : { caFile: files.ca }),
          ...(files.cert === undefined ? {} : { certFile: files.cert }),
          ...(files.key === undefined ? {} : { keyFile: files.key })
        }
      : parsed.some((p) => p.tls)
        ? {}
        : undefined
  for (const [what, path] of [
    ["TLS CA", files?.ca],
    ["TLS certificate", files?.cert],
    ["TLS key", files?.key]
  ] as const)
    if (path !== undefined) readFile(what, path)
  let authenticator: Authenticator | undefined
  if (auth.creds !== undefined) {
    const path = auth.creds
    const first = readFile("creds", path)
    authenticator = credsAuthenticator(() => {
      try {
        return readFileSync(path)
      } catch {
        return first
      }
    })
  } else if (auth.nkey !== undefined) {
    authenticator = nkeyAuthenticator(seedOf(auth.nkey))
  }
  return {
    servers: parsed.map((p) => p.url),
    ...(auth.user === undefined ? {} : { user: auth.user }),
    ...(auth.password === undefined ? {} : { pass: auth.password }),
    ...(auth.token === undefined ? {} : { token: auth.token }),
    ...(authenticator === undefined ? {} : { authenticator }),
    ...(tls === undefined ? {} : { tls })
  }
}

/** The servers as they may be shown: one comma-separated line without credentials. */
export const showServers = (servers: ReadonlyArray<string>): string => servers.map(redactUrl).join(",")
