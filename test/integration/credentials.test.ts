// The other ways to authenticate: an nkey seed file and a token (options, flag, environment, URL), wrong ones
// refused; and a user who may not receive replies gets PermissionDenied for its requests, not a Timeout.
import { mkdtemp, writeFile } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { nkeys } from "@nats-io/transport-node"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { type LocalNatsServer, startLocalNatsServer } from "../../src/cli/natsServer.js"
import { ConnectionError, connect, PermissionDenied } from "../../src/client/index.js"
import { runCli } from "../helpers/processes.js"

const TOKEN = "token-Tk-5wQ8z"

let dir: string
let seedFile: string
let otherSeedFile: string
let nkeyServer: LocalNatsServer
let tokenServer: LocalNatsServer

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "modelbus-nkey-"))
  const user = nkeys.createUser()
  seedFile = join(dir, "user.nk")
  otherSeedFile = join(dir, "other.nk")
  await writeFile(seedFile, `${new TextDecoder().decode(user.getSeed())}\n`)
  await writeFile(otherSeedFile, `${new TextDecoder().decode(nkeys.createUser().getSeed())}\n`)
  const config = join(dir, "nats-server.conf")
  // the nkey user, and a user who may publish anything but subscribe to nothing (no reply inbox)
  await writeFile(
    config,
    `authorization {\n  users: [\n    { nkey: ${user.getPublicKey()} }\n    { user: deaf, password: deaf-Pw-2xR7, permissions: { subscribe: { deny: [">"] } } }\n  ]\n}\n`
  )
  nkeyServer = await startLocalNatsServer({ config, jetstream: false })
  tokenServer = await startLocalNatsServer({ jetstream: false, args: ["--auth", TOKEN] })
})

afterAll(async () => {
  await nkeyServer?.stop()
  await tokenServer?.stop()
})

const connects = async (options: Parameters<typeof connect>[0]) => {
  const client = await connect(options)
  const statuses = await client.status({ quietMs: 50 })
  await client.close()
  return statuses
}

describe("nkey and token", () => {
  it("an nkey seed file signs the server's nonce; another user's seed is refused", async () => {
    expect(await connects({ servers: nkeyServer.url, nkey: seedFile })).toEqual([])
    const refused = await connect({ servers: nkeyServer.url, nkey: otherSeedFile }).catch((e: unknown) => e)
    expect(refused).toBeInstanceOf(ConnectionError)
    // connected and asked: nobody supervises on this server, which status reports as NotFound (exit 1)
    const cli = await runCli(["status", "--json", "-s", nkeyServer.url, "--nkey", seedFile])
    expect(cli.code).toBe(1)
    expect(cli.output.trim()).toBe("modelbus: NotFound: no supervisor answered on modelbus.status")
  })

  it("a token from the client options, a flag, the environment or the URL", async () => {
    expect(await connects({ servers: tokenServer.url, token: TOKEN })).toEqual([])
    expect(await connects({ servers: tokenServer.url.replace("://", `://${TOKEN}@`) })).toEqual([])
    for (const run of [
      await runCli(["status", "--json", "-s", tokenServer.url, "--token", TOKEN]),
      await runCli(["status", "--json", "-s", tokenServer.url], { NATS_TOKEN: TOKEN })
    ]) {
      // connected and asked (no supervisor here: NotFound), not refused
      expect(run.code).toBe(1)
      expect(run.output.trim()).toBe("modelbus: NotFound: no supervisor answered on modelbus.status")
      expect(run.output).not.toContain(TOKEN)
    }
    const wrong = await runCli(["status", "-s", tokenServer.url.replace("://", "://not-the-token@")])
    expect(wrong.code).toBe(1)
    expect(wrong.output.trim()).toMatch(
      /^modelbus: ConnectionError: cannot connect to NATS at nats:\/\/\*\*\*@127\.0\.0\.1:\d+: Authorization Violation$/
    )
  })
})

describe("a refused reply inbox", () => {
  it("fails infer and status with PermissionDenied on the inbox, before the timeout", async () => {
    const client = await connect({ servers: nkeyServer.url, user: "deaf", password: "deaf-Pw-2xR7", timeoutMs: 10_000 })
    try {
      // PermissionDenied, not Timeout: the refusal arrived before the 10 s timeout, by the error's type
      const infer = await client.infer("iris", [[1, 2, 3, 4]]).catch((e: unknown) => e)
      expect(infer).toBeInstanceOf(PermissionDenied)
      expect(infer).toMatchObject({ operation: "subscribe", subject: expect.stringMatching(/^_INBOX\./) })
      const status = await client.status({ timeoutMs: 10_000 }).catch((e: unknown) => e)
      expect(status).toBeInstanceOf(PermissionDenied)
    } finally {
      await client.close()
    }
  })
})
