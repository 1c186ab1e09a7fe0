// Test servers that ask for credentials: deploy/auth's roles on a free port (test passwords given
// through its environment), and a TLS server with a CA and certificates made by openssl for the test.
import { execFileSync } from "node:child_process"
import { mkdtemp, writeFile } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { type LocalNatsServer, startLocalNatsServer } from "../../src/cli/natsServer.js"
import { ROOT } from "./processes.js"

export const AUTH_CONFIG = join(ROOT, "deploy/auth/nats-server.conf")

/** One password per role of deploy/auth (distinctive, so a test can look for them in any output). */
export const PASSWORDS = {
  caller: "caller-Pw-7rQx2",
  operator: "operator-Pw-4kZm9",
  service: "service-Pw-8vLt3"
} as const

/** nats-server with deploy/auth/nats-server.conf on a free port, the roles' passwords from its environment. */
export const startAuthServer = (options: { readonly monitor?: boolean } = {}): Promise<LocalNatsServer> =>
  startLocalNatsServer({
    config: AUTH_CONFIG,
    monitor: options.monitor === true,
    env: {
      MODELBUS_CALLER_PASSWORD: PASSWORDS.caller,
      MODELBUS_OPERATOR_PASSWORD: PASSWORDS.operator,
      MODELBUS_SERVICE_PASSWORD: PASSWORDS.service
    }
  })

export interface TestCertificates {
  readonly dir: string
  readonly ca: string
  readonly serverCert: string
  readonly serverKey: string
  readonly clientCert: string
  readonly clientKey: string
}

const openssl = (args: ReadonlyArray<string>, cwd: string) => execFileSync("openssl", args, { cwd, stdio: "pipe" })

/** A CA, a server certificate for 127.0.0.1/localhost and a client certificate, in a fresh temp folder. */
export const makeCertificates = async (): Promise<TestCertificates> => {
  const dir = await mkdtemp(join(tmpdir(), "modelbus-tls-"))
  openssl(
    ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=modelbus test CA"].concat([
      "-keyout",
      "ca-key.pem",
      "-out",
      "ca.pem"
    ]),
    dir
  )
  const issue = async (name: string, subject: string, extensions: string) => {
    await writeFile(join(dir, `${name}.ext`), extensions)
    openssl(
      ["req", "-newkey", "rsa:2048", "-nodes", "-subj", subject, "-keyout", `${name}-key.pem`, "-out", `${name}.csr`],
      dir
    )
    openssl(
      ["x509", "-req", "-in", `${name}.csr`, "-CA", "ca.pem", "-CAkey", "ca-key.pem", "-CAcreateserial"].concat([
        "-days",
        "1",
        "-out",
        `${name}.pem`,
        "-extfile",
        `${name}.ext`
      ]),
      dir
    )
  }
  await issue("server", "/CN=localhost", "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n")
  await issue("client", "/CN=modelbus test client", "extendedKeyUsage=clientAuth\n")
  return {
    dir,
    ca: join(dir, "ca.pem"),
    serverCert: join(dir, "server.pem"),
    serverKey: join(dir, "server-key.pem"),
    clientCert: join(dir, "client.pem"),
    clientKey: join(dir, "client-key.pem")
  }
}

/** nats-server (JetStream) that accepts TLS clients only, and only with a certificate from the test CA. */
export const startTlsServer = async (certs: TestCertificates): Promise<LocalNatsServer> => {
  const config = join(certs.dir, "nats-server.conf")
  await writeFile(
    config,
    `tls {\n  cert_file: "${certs.serverCert}"\n  key_file: "${certs.serverKey}"\n  ca_file: "${certs.ca}"\n  verify: true\n}\n`
  )
  return startLocalNatsServer({ config, scheme: "tls" })
}
