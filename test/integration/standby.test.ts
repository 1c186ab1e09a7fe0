// Warm standby with real processes on a real nats-server: a SIGKILLed replica's slot is served by the
// process that was the standby (same pid, the registry's current version) and the pool refills; with
// standby 0 a fresh process serves it; status shows standbys; shutdown or a lost supervisor ends them.
import { copyFile, mkdtemp, readFile, writeFile } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { type LocalNatsServer, startLocalNatsServer } from "../../src/cli/natsServer.js"
import { type Client, connect } from "../../src/client/index.js"
import { type ActorStatus, isStandby, type LifecycleEvent } from "../../src/protocol/messages.js"
import { type CliProcess, eventually, IRIS_MODEL, isAlive, runCli, startSupervisor } from "../helpers/processes.js"

const IRIS = [[5.1, 3.5, 1.4, 0.2]]

let nats: LocalNatsServer

beforeAll(async () => {
  nats = await startLocalNatsServer({ monitor: true })
})

afterAll(async () => {
  await nats?.stop()
})

interface Deployment {
  readonly supervisor: CliProcess
  readonly client: Client
  readonly prefix: string
  readonly rows: () => Promise<ReadonlyArray<ActorStatus>>
}

/** A supervisor on its own prefix and a client of it; both end after `body` (the supervisor's exit must be 0). */
const deployed = async (prefix: string, config: object, body: (d: Deployment) => Promise<void>) => {
  const supervisor = await startSupervisor(nats.url, { prefix, ...config })
  const client = await connect({ servers: nats.url, prefix })
  const rows = async () => (await client.status()).flatMap((s) => s.actors)
  try {
    await body({ supervisor, client, prefix, rows })
  } finally {
    await client.close()
    if (supervisor.child.exitCode === null && supervisor.child.signalCode === null)
      expect((await supervisor.stop()).code).toBe(0)
  }
}

const readyStandby = (rows: ReadonlyArray<ActorStatus>, not: ReadonlyArray<number | null> = []) =>
  rows.find((a) => isStandby(a) && a.state === "standby" && a.pid !== null && !not.includes(a.pid))

/** The subjects a connection of this name is subscribed to (nats-server's monitor). */
const subscriptionsOf = async (connectionName: string): Promise<ReadonlyArray<string> | undefined> => {
  const connz = (await (await fetch(`${nats.monitorUrl}/connz?subs=1&limit=1024`)).json()) as {
    connections: ReadonlyArray<{ name?: string; subscriptions_list?: ReadonlyArray<string> }>
  }
  const found = connz.connections.find((c) => c.name === connectionName)
  return found === undefined ? undefined : (found.subscriptions_list ?? [])
}

/** A copy of the Iris model with its weights scaled: the same signature, another version's artifacts. */
const irisVariant = async (): Promise<string> => {
  const dir = await mkdtemp(join(tmpdir(), "modelbus-standby-"))
  await copyFile(join(IRIS_MODEL, "model.json"), join(dir, "model.json"))
  const weights = new Float32Array(new Uint8Array(await readFile(join(IRIS_MODEL, "weights.bin"))).buffer)
  await writeFile(join(dir, "weights.bin"), new Uint8Array(weights.map((w) => w * 0.5).buffer))
  return dir
}

/** Resolves with the first lifecycle event that `matches` (subscribed before it resolves the outer promise). */
const nextEvent = async (client: Client, model: string, matches: (e: LifecycleEvent) => boolean) => {
  let resolve: (e: LifecycleEvent) => void = () => {}
  const seen = new Promise<LifecycleEvent>((r) => (resolve = r))
  const stop = await client.onEvents((e) => {
    if (matches(e)) resolve(e)
  }, model)
  return { seen: seen.finally(stop) }
}

describe("warm standby", () => {
  it("a SIGKILLed replica's slot is served by the standby's process, at the registry's current version; a new standby follows", async () => {
    await deployed("sbon", { models: [{ name: "solo", path: IRIS_MODEL, replicas: 1 }] }, async (d) => {
      const standby = await eventually(async () => readyStandby(await d.rows()), 60_000, "a ready standby")
      const [victim] = (await d.rows()).filter((a) => a.model === "solo")
      expect(standby).toMatchObject({ id: expect.stringMatching(/^standby-1@/), model: "", loads: 0 })
      expect(standby.rssBytes).toBeGreaterThan(0)
      expect(standby.pid).not.toBe(victim!.pid)
      // a standby is connected but takes no request: no infer, presence, update or discovery subscription
      const subscriptions = await subscriptionsOf(`modelbus-actor ${standby.id}`)
      expect(subscriptions).toBeDefined()
      expect(subscriptions!.filter((s) => !s.startsWith("_INBOX."))).toEqual([])

      // a new version first: the standby must load the registry's current one, as a fresh actor would
      const updated = await d.client.updateModel("solo", { path: await irisVariant() })
      expect(updated.version).toBe(2)

      const restarted = await nextEvent(d.client, "solo", (e) => e.type === "restarted")
      const started = await nextEvent(d.client, "solo", (e) => e.type === "started" && e.pid === standby.pid)
      process.kill(victim!.pid!, "SIGKILL")
      expect((await restarted.seen).pid).toBe(standby.pid)
      expect((await started.seen).loadMs).toBeGreaterThan(0)

      const slot = (await d.rows()).find((a) => a.id === victim!.id)!
      expect(slot).toMatchObject({ pid: standby.pid, state: "serving", loads: 1, version: 2, restarts: 1 })
      expect(slot.lastExit).toBe("killed by SIGKILL")
      expect(isAlive(victim!.pid!)).toBe(false)
      const reply = await d.client.infer("solo", IRIS)
      expect(reply).toMatchObject({ actor: victim!.id, version: 2 })

      const next = await eventually(
        async () => readyStandby(await d.rows(), [standby.pid, victim!.pid]),
        60_000,
        "a new standby"
      )
      expect(next.id).toBe(standby.id)
      expect(isAlive(next.pid!)).toBe(true)

      // the text status shows it under the supervisor
      const text = await runCli(["status", "-s", nats.url, "--prefix", d.prefix])
      expect(text.code).toBe(0)
      expect(text.output).toMatch(new RegExp(`└─ ${next.id}  pid ${next.pid}  standby  up \\S+  rss \\d+ MB`))
    })
  })

  it("with standby 0 the killed slot is served by a freshly forked process, and no standby exists", async () => {
    await deployed(
      "sboff",
      { supervisor: { standby: 0 }, models: [{ name: "solo", path: IRIS_MODEL, replicas: 1 }] },
      async (d) => {
        const [victim] = await d.rows()
        const started = await nextEvent(d.client, "solo", (e) => e.type === "started")
        process.kill(victim!.pid!, "SIGKILL")
        const fresh = (await started.seen).pid
        expect(fresh).not.toBe(victim!.pid)
        const rows = await d.rows()
        expect(rows.map((a) => [a.id, a.pid, a.state, a.loads, a.restarts])).toEqual([
          [victim!.id, fresh, "serving", 1, 1]
        ])
        expect((await d.client.infer("solo", IRIS)).actor).toBe(victim!.id)
        expect(d.supervisor.output()).not.toMatch(/standby/)
      }
    )
  })

  it("SIGTERM to the supervisor leaves no standby (nor actor) alive", async () => {
    let pids: ReadonlyArray<number> = []
    await deployed("sbterm", { models: [{ name: "solo", path: IRIS_MODEL, replicas: 2 }] }, async (d) => {
      await eventually(async () => readyStandby(await d.rows()), 60_000, "a ready standby")
      pids = (await d.rows()).flatMap((a) => (a.pid === null ? [] : [a.pid]))
      expect(pids).toHaveLength(3)
      expect((await d.supervisor.stop()).code).toBe(0)
      expect(pids.filter(isAlive)).toEqual([])
    })
  })

  it("a standby whose supervisor is SIGKILLed exits (its IPC channel is gone)", async () => {
    await deployed("sbkill", { models: [{ name: "solo", path: IRIS_MODEL, replicas: 1 }] }, async (d) => {
      const standby = await eventually(async () => readyStandby(await d.rows()), 60_000, "a ready standby")
      const [actor] = (await d.rows()).filter((a) => a.model === "solo")
      process.kill(d.supervisor.pid, "SIGKILL")
      await d.supervisor.exited
      await eventually(
        async () => (isAlive(standby.pid!) || isAlive(actor!.pid!) ? undefined : true),
        30_000,
        "the standby and the actor to exit"
      )
    })
  })
})
