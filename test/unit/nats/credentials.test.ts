// Credentials as pure logic: flags over environment over config file, credentials in a server URL
// taken out of it, tls:// asking for TLS, conflicts refused, and secrets masked in any text.
import { mkdtemp, writeFile } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { nkeys } from "@nats-io/transport-node"
import { describe, expect, it } from "vitest"
import {
  authFromEnv,
  authProblem,
  connectAuth,
  mergeAuth,
  parseServerUrl,
  resolveAuthPaths,
  separateCredentials,
  showServers
} from "../../../src/nats/credentials.js"
import { redact, redactUrl, rememberSecret } from "../../../src/protocol/auth.js"

describe("server URLs", () => {
  it("takes user and password out of a URL, decoding them, and keeps the rest", () => {
    expect(parseServerUrl("nats://alice:s3cr%40t@host:4222")).toEqual({
      url: "nats://host:4222",
      tls: false,
      auth: { user: "alice", password: "s3cr@t" }
    })
  })

  it("reads a lone userinfo as a token, tls:// as asking for TLS, and leaves a bare host:port alone", () => {
    expect(parseServerUrl("tls://tok3n@host")).toEqual({ url: "tls://host", tls: true, auth: { token: "tok3n" } })
    expect(parseServerUrl("127.0.0.1:4222")).toEqual({ url: "127.0.0.1:4222", tls: false, auth: {} })
  })

  it("masks credentials wherever a URL is shown", () => {
    expect(redactUrl("nats://alice:s3cret@host:4222")).toBe("nats://alice:***@host:4222")
    expect(redactUrl("tls://tok3n@host")).toBe("tls://***@host")
    expect(showServers(["nats://a:pw1@h1", "nats://h2", "nats://b:p@w2@h3"])).toBe(
      "nats://a:***@h1,nats://h2,nats://b:***@h3"
    )
    expect(redact("cannot connect to NATS at nats://alice:s3cret@host: Authorization Violation")).toBe(
      "cannot connect to NATS at nats://alice:***@host: Authorization Violation"
    )
  })

  it("masks a remembered secret anywhere in a text", () => {
    rememberSecret("hunter2-unit")
    expect(redact('refused "hunter2-unit" twice: hunter2-unit')).toBe('refused "***" twice: ***')
  })
})

describe("precedence", () => {
  it("takes each setting from the first source that has it: flags, then environment, then config", () => {
    const flags = { user: "flag-user" }
    const env = authFromEnv({ NATS_USER: "env-user", NATS_PASSWORD: "env-pw", NATS_CA: "/env/ca.pem" })
    const config = { user: "cfg-user", password: "cfg-pw", tls: { ca: "/cfg/ca.pem", key: "/cfg/key.pem" } }
    expect(mergeAuth(flags, env, config)).toEqual({
      user: "flag-user",
      password: "env-pw",
      tls: { ca: "/env/ca.pem", key: "/cfg/key.pem" }
    })
  })

  it("reads the nats CLI's variables, ignoring empty ones", () => {
    expect(
      authFromEnv({ NATS_CREDS: "/a.creds", NATS_NKEY: "", NATS_CERT: "/c.pem", NATS_KEY: "/k.pem", NATS_TOKEN: "t" })
    ).toEqual({ creds: "/a.creds", token: "t", tls: { cert: "/c.pem", key: "/k.pem" } })
  })

  it("explicit credentials win over those of a URL; the URL loses its credentials either way", () => {
    expect(separateCredentials(["nats://alice:pw@h1", "nats://h2"], { password: "given" })).toEqual({
      servers: ["nats://h1", "nats://h2"],
      auth: { password: "given", user: "alice" }
    })
  })

  it("resolves file paths against the config file's folder, leaving absolute ones", () => {
    expect(resolveAuthPaths({ creds: "a.creds", nkey: "/abs/seed", tls: { ca: "../ca.pem" } }, "/etc/mb")).toEqual({
      creds: "/etc/mb/a.creds",
      nkey: "/abs/seed",
      tls: { ca: "/etc/ca.pem" }
    })
  })
})

describe("what nats.js gets", () => {
  it("refuses two ways to authenticate, and a password without a user", () => {
    expect(authProblem({ user: "a", password: "b", token: "c" })).toBe(
      "give one way to authenticate to NATS, not user/password and token"
    )
    expect(authProblem({ password: "b" })).toBe("a NATS password needs a user")
    expect(authProblem({ nkey: "/seed", tls: { ca: "/ca" } })).toBeUndefined()
    expect(() => connectAuth(["nats://tok@h"], { user: "u", password: "p" })).toThrow(/not user\/password and token/)
  })

  it("asks for TLS on a tls:// URL, passes TLS files, and builds an nkey authenticator from a seed file", async () => {
    const dir = await mkdtemp(join(tmpdir(), "modelbus-creds-"))
    const user = nkeys.createUser()
    const seedFile = join(dir, "user.nk")
    await writeFile(seedFile, `${new TextDecoder().decode(user.getSeed())}\n`)
    const ca = join(dir, "ca.pem")
    await writeFile(ca, "not checked here")
    expect(connectAuth(["tls://h:4443"])).toEqual({ servers: ["tls://h:4443"], tls: {} })
    const options = connectAuth(["nats://h"], { nkey: seedFile, tls: { ca } })
    expect(options.tls).toEqual({ caFile: ca })
    const signed = options.authenticator?.("nonce") as { nkey: string; sig: string }
    expect(signed.nkey).toBe(user.getPublicKey())
    expect(user.verify(new TextEncoder().encode("nonce"), Buffer.from(signed.sig, "base64url"))).toBe(true)
    // the seed is a secret from now on
    expect(redact(`seed ${new TextDecoder().decode(user.getSeed())}`)).toBe("seed ***")
  })

  it("names a file it cannot read, and says nothing of its content", () => {
    expect(() => connectAuth(["nats://h"], { creds: "/nonexistent/user.creds" })).toThrow(
      /cannot read the NATS creds file \/nonexistent\/user\.creds/
    )
  })
})
