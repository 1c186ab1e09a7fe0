// Why a TLS server refuses this client, asked beside the connect: a server that requires a client
// certificate sends its alert only after the handshake (TLS 1.3), which nats.js waits out as a timeout.
import { readFileSync } from "node:fs"
import { createConnection, isIP } from "node:net"
import { connect as tlsConnect } from "node:tls"
import { messageOf } from "../protocol/values.js"

/** How long after the handshake a refusal is waited for before the server is taken to accept the client. */
const ALERT_WAIT_MS = 1_000

/** `TLS alert "bad certificate"` from OpenSSL's multi-line text; the first line when it names no alert. */
export const alertOf = (text: string): string => {
  const alert = /alert ([a-z ]+?)(?::|\n|$)/i.exec(text)?.[1]
  return alert === undefined ? (text.split("\n")[0] ?? text) : `TLS alert "${alert.trim()}"`
}

/**
 * Opens a connection to `hostPort` (`host:port`) as nats.js does (the server's INFO line in the
 * clear, then TLS) without a client certificate, and resolves with the server's refusal when it
 * sends one (an alert such as "certificate required"), undefined when it does not or cannot be asked.
 */
export const tlsRefusal = (
  hostPort: string,
  caFile: string | undefined,
  timeoutMs = 5_000
): Promise<string | undefined> =>
  new Promise((resolve) => {
    const at = hostPort.lastIndexOf(":")
    const host = hostPort.slice(0, at)
    const port = Number(hostPort.slice(at + 1))
    let settled = false
    const done = (why: string | undefined) => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      plain.destroy()
      resolve(why)
    }
    const timer = setTimeout(() => done(undefined), timeoutMs)
    timer.unref()
    const plain = createConnection(port, host)
    plain.on("error", () => done(undefined))
    let info = ""
    const onData = (chunk: Buffer) => {
      info += chunk.toString("latin1")
      if (!info.includes("\r\n")) return
      plain.off("data", onData)
      if (!/"tls_required"\s*:\s*true/.test(info) && !/"tls_verify"\s*:\s*true/.test(info)) return done(undefined)
      let ca: Buffer | undefined
      try {
        ca = caFile === undefined ? undefined : readFileSync(caFile)
      } catch {
        return done(undefined)
      }
      const secure = tlsConnect({
        socket: plain,
        ...(isIP(host) === 0 ? { servername: host } : {}),
        ...(ca === undefined ? {} : { ca })
      })
      secure.on("error", (error) => done(alertOf(messageOf(error))))
      secure.on("secureConnect", () => {
        // the server answers the finished handshake with its alert, or with nothing (it waits for CONNECT)
        setTimeout(() => done(undefined), ALERT_WAIT_MS).unref()
      })
    }
    plain.on("data", onData)
  })
