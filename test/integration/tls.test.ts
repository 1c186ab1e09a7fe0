// TLS with client certificates (made by openssl at test time): supervisor and actors (files in the config),
// clients and the CLI (flags, NATS_* variables) connect over tls://; without a certificate nothing does.
import { copyFile } from "node:fs/promises"
import { join } from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import type { LocalNatsServer } from "../../src/cli/natsServer.js"
import { type Client, ConnectionError, connect } from "../../src/client/index.js"
import { isStandby } from "../../src/protocol/messages.js"
import { makeCertificates, startTlsServer, type TestCertificates } from "../helpers/auth.js"
import { type CliProcess, IRIS_MODEL, runCli, spawnCli, writeConfig } from "../helpers/processes.js"

const IRIS = [[5.1, 3.5, 1.4, 0.2]]

let certs: TestCertificates
let nats: LocalNatsServer
let supervisor: CliProcess
let client: Client

beforeAll(async () => {
  certs = await makeCertificates()
  nats = await startTlsServer(certs)
  expect(nats.url).toMatch(/^tls:\/\//)
  // the TLS files beside the config file, named relative to it
  const config = await writeConfig({
    nats: { servers: nats.url, tls: { ca: "ca.pem", cert: "certs/../client.pem", key: "./client-key.pem" } },
    models: [{ name: "iris", path: IRIS_MODEL, replicas: 2 }]
  })
  const dir = join(config, "..")
  for (const name of ["ca.pem", "client.pem", "client-key.pem"]) await copyFile(join(certs.dir, name), join(dir, name))
  supervisor = spawnCli(["supervise", "--config", config])
  await supervisor.waitForLine(/modelbus ready/, 60_000)
  client = await connect({ servers: nats.url, tls: { ca: certs.ca, cert: certs.clientCert, key: certs.clientKey } })
})

afterAll(async () => {
  await client?.close()
  await supervisor?.stop()
  await nats?.stop()
})

describe("TLS", () => {
  it("the supervisor and both actors connect over TLS; a client infers and gets status", async () => {
    const [status] = await client.status()
    // the replicas; the supervisor's standby (model "") is in the list too once forked
    expect(status?.actors.filter((a) => !isStandby(a)).map((a) => a.state)).toEqual(["serving", "serving"])
    const replies = await Promise.all([1, 2, 3, 4].map(() => client.infer("iris", IRIS)))
    expect(replies.every((r) => r.model === "iris")).toBe(true)
  })

  it("the CLI connects with --tlsca/--tlscert/--tlskey, or with NATS_CA/NATS_CERT/NATS_KEY", async () => {
    const viaFlags = await runCli(
      ["infer", "iris", "-s", nats.url, "--input", JSON.stringify(IRIS)].concat([
        "--tlsca",
        certs.ca,
        "--tlscert",
        certs.clientCert,
        "--tlskey",
        certs.clientKey
      ])
    )
    expect(viaFlags.code).toBe(0)
    expect(JSON.parse(viaFlags.output).model).toBe("iris")
    const viaEnv = await runCli(["status", "--json", "-s", nats.url], {
      NATS_CA: certs.ca,
      NATS_CERT: certs.clientCert,
      NATS_KEY: certs.clientKey
    })
    expect(viaEnv.code).toBe(0)
    expect(JSON.parse(viaEnv.output).actors.filter((a: { model: string }) => a.model === "iris")).toHaveLength(2)
  })

  it("without a client certificate the connection is refused with a ConnectionError naming the cause, not a timeout", async () => {
    const started = performance.now()
    const error = await connect({ servers: nats.url, tls: { ca: certs.ca } }).then(
      async (c) => {
        await c.close()
        throw new Error("connected without a client certificate")
      },
      (e: unknown) => e
    )
    expect(error).toBeInstanceOf(ConnectionError)
    expect((error as ConnectionError).message).toContain(`cannot connect to NATS at ${nats.url}`)
    expect((error as ConnectionError).message).toMatch(
      /the server refused TLS without a client certificate \(TLS alert "[a-z ]*certificate[a-z ]*"\): give one with --tlscert\/--tlskey/
    )
    console.log(`refused without a client certificate after ${Math.round(performance.now() - started)} ms`)
    const cli = await runCli(["status", "-s", nats.url, "--tlsca", certs.ca])
    expect(cli.code).toBe(1)
    expect(cli.output).toMatch(
      /^modelbus: ConnectionError: cannot connect to NATS at tls:\/\/.*the server refused TLS without a client certificate/
    )
  })
})
