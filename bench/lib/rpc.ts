// Request/reply over a forked child's IPC channel: the parent `call`s a command and gets its
// result; during a call the child can `emit` events that the parent acknowledges (window edges).
import type { ChildProcess } from "node:child_process"

type Command = { readonly type: string } & Record<string, unknown>
type Envelope =
  | { readonly id: number; readonly result: unknown }
  | { readonly id: number; readonly error: string }
  | { readonly id: number; readonly event: string }

/** Parent side: one call at a time or several, matched by id; rejects when the child exits or the call times out. */
export const rpcClient = (child: ChildProcess, what: string) => {
  let next = 0
  return {
    call: <T>(command: Command, timeoutMs: number, onEvent?: (event: string) => void): Promise<T> =>
      new Promise<T>((resolve, reject) => {
        const id = ++next
        const done = () => {
          clearTimeout(timer)
          child.off("message", onMessage)
          child.off("exit", onExit)
        }
        const timer = setTimeout(() => {
          done()
          reject(new Error(`${what}: no answer to ${command.type} within ${timeoutMs} ms`))
        }, timeoutMs)
        const onExit = (code: number | null, signal: string | null) => {
          done()
          reject(new Error(`${what} exited (${signal ?? code}) during ${command.type}`))
        }
        const onMessage = (raw: unknown) => {
          const m = raw as Envelope
          if (typeof m !== "object" || m === null || m.id !== id) return
          if ("event" in m) {
            onEvent?.(m.event)
            child.send({ id, ack: m.event })
            return
          }
          done()
          if ("error" in m) reject(new Error(`${what}: ${command.type} failed: ${m.error}`))
          else resolve(m.result as T)
        }
        child.on("message", onMessage)
        child.once("exit", onExit)
        child.send({ ...command, id })
      })
  }
}

/** Child side: answers each command with `handle`'s result; `emit` waits for the parent's acknowledgement. */
export const serveRpc = (
  handle: (command: Command, emit: (event: string) => Promise<void>) => Promise<unknown>
): void => {
  const acks = new Map<string, () => void>()
  process.on("message", (raw: unknown) => {
    const m = raw as Command & { id: number; ack?: string }
    if (typeof m !== "object" || m === null || typeof m.id !== "number") return
    if (m.ack !== undefined) {
      acks.get(`${m.id}:${m.ack}`)?.()
      return
    }
    const emit = (event: string) =>
      new Promise<void>((resolve) => {
        acks.set(`${m.id}:${event}`, () => {
          acks.delete(`${m.id}:${event}`)
          resolve()
        })
        process.send!({ id: m.id, event })
      })
    handle(m, emit).then(
      (result) => process.send!({ id: m.id, result }),
      (error: unknown) =>
        process.send!({ id: m.id, error: error instanceof Error ? (error.stack ?? error.message) : String(error) })
    )
  })
  // The bench that forked this process is gone: nothing will stop us otherwise.
  process.on("disconnect", () => process.exit(0))
}
