// Starting and stopping a local `nats-server` (with JetStream) on a loopback port, a free one unless told:
// what `modelbus up` falls back to when nothing answers, and what the test harness runs against.
import { type ChildProcess, spawn } from "node:child_process"
import { mkdtemp, rm } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { createInterface } from "node:readline"

export interface LocalNatsServer {
  readonly url: string
  readonly port: number
  readonly pid: number
  /** The HTTP monitoring endpoint (`/varz`, `/connz`, …), when started with `monitor: true`. */
  readonly monitorUrl: string | undefined
  /** Stops the server (SIGTERM, then SIGKILL after a grace period) and removes its store. */
  readonly stop: () => Promise<void>
  readonly [Symbol.asyncDispose]: () => Promise<void>
}

export interface LocalNatsServerOptions {
  readonly binary?: string
  /** The loopback port to listen on (default: a free one); a port it cannot bind is `NatsPortUnavailable`. */
  readonly port?: number
  readonly jetstream?: boolean
  readonly args?: ReadonlyArray<string>
  readonly startTimeoutMs?: number
  /** Also serve the HTTP monitoring endpoint on a free loopback port (default false). */
  readonly monitor?: boolean
  /** A server config file (`-c`); the address, port and store given here still win over its own. */
  readonly config?: string
  /** Extra environment for the server (a config file may read variables, e.g. passwords). */
  readonly env?: NodeJS.ProcessEnv
  /** The URL scheme clients use (default nats; tls for a server whose config requires TLS). */
  readonly scheme?: "nats" | "tls"
}

export class NatsServerNotFound extends Error {
  override readonly name = "NatsServerNotFound"
}

/** nats-server could not listen on the port it was given: taken by another program, or not allowed. */
export class NatsPortUnavailable extends Error {
  override readonly name = "NatsPortUnavailable"
}

const LISTENING = /Listening for client connections on [^:\s]+:(\d+)/
/** nats-server's fatal line when it cannot bind: `Error listening on port: 127.0.0.1:4222, "listen tcp …"`. */
const CANNOT_LISTEN = /Error listening on port: (.*)$/
const MONITORING = /Starting http monitor on ([^:\s]+):(\d+)/

const exited = (child: ChildProcess) =>
  new Promise<void>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve()
    else child.once("exit", () => resolve())
  })

/** Starts `nats-server` on 127.0.0.1 (a free port unless `port` is given) and resolves once it accepts clients. */
export const startLocalNatsServer = async (options: LocalNatsServerOptions = {}): Promise<LocalNatsServer> => {
  const binary = options.binary ?? process.env.NATS_SERVER_BIN ?? "nats-server"
  const storeDir = await mkdtemp(join(tmpdir(), "modelbus-nats-"))
  const args = [
    ...(options.config === undefined ? [] : ["-c", options.config]),
    "-a",
    "127.0.0.1",
    "-p",
    String(options.port ?? -1),
    ...(options.jetstream === false ? [] : ["-js", "-sd", storeDir]),
    ...(options.monitor === true ? ["-m", "-1"] : []),
    ...(options.args ?? [])
  ]
  const child = spawn(binary, args, {
    stdio: ["ignore", "ignore", "pipe"],
    ...(options.env === undefined ? {} : { env: { ...process.env, ...options.env } })
  })
  const ready = await new Promise<{ port: number; monitorUrl: string | undefined }>((resolve, reject) => {
    const lines = createInterface({ input: child.stderr! })
    const log: Array<string> = []
    const timer = setTimeout(
      () =>
        fail(new Error(`nats-server did not start within ${options.startTimeoutMs ?? 10_000} ms:\n${log.join("\n")}`)),
      options.startTimeoutMs ?? 10_000
    )
    const fail = (error: Error) => {
      clearTimeout(timer)
      child.kill("SIGKILL")
      reject(error)
    }
    child.once("error", (error: NodeJS.ErrnoException) =>
      fail(
        error.code === "ENOENT"
          ? new NatsServerNotFound(
              `${binary} is not on PATH: install it (Debian/Ubuntu: apt-get install nats-server; or https://github.com/nats-io/nats-server/releases), set NATS_SERVER_BIN, or pass --server to a running NATS`
            )
          : error
      )
    )
    // "close", not "exit": the last stderr lines (the fatal one) have been read by then
    child.once("close", (code, signal) => {
      const cannotListen = log.map((line) => CANNOT_LISTEN.exec(line)?.[1]).find((reason) => reason !== undefined)
      fail(
        cannotListen === undefined
          ? new Error(`nats-server exited (${signal ?? code}) before it was ready:\n${log.join("\n")}`)
          : new NatsPortUnavailable(`nats-server cannot listen on ${cannotListen}`)
      )
    })
    // with the monitor on, both lines are awaited (in whichever order they come)
    let port: number | undefined
    let monitorUrl: string | undefined
    lines.on("line", (line) => {
      if (log.length < 200) log.push(line)
      const listening = LISTENING.exec(line)
      if (listening) port = Number(listening[1])
      const monitoring = MONITORING.exec(line)
      if (monitoring) monitorUrl = `http://${monitoring[1]}:${monitoring[2]}`
      if (port !== undefined && (options.monitor !== true || monitorUrl !== undefined)) {
        clearTimeout(timer)
        child.removeAllListeners("close")
        lines.removeAllListeners("line")
        child.stderr!.resume()
        resolve({ port, monitorUrl })
      }
    })
  }).catch(async (error) => {
    await rm(storeDir, { recursive: true, force: true })
    throw error
  })
  let stopping: Promise<void> | undefined
  const stop = () =>
    (stopping ??= (async () => {
      const done = exited(child)
      child.kill("SIGTERM")
      const timer = setTimeout(() => child.kill("SIGKILL"), 5_000)
      await done
      clearTimeout(timer)
      await rm(storeDir, { recursive: true, force: true })
    })())
  return {
    url: `${options.scheme ?? "nats"}://127.0.0.1:${ready.port}`,
    port: ready.port,
    pid: child.pid!,
    monitorUrl: ready.monitorUrl,
    stop,
    [Symbol.asyncDispose]: stop
  }
}
