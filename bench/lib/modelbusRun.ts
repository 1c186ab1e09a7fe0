// modelbus as a user runs it: a config file, `modelbus supervise` as a process, the actors it
// reports in `status`; the throughput rows per batching variant, and the 100k-request soak.
import { mkdtemp, writeFile } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { stringify } from "yaml"
import { type BenchContext, driverRows, helperReady, measure } from "./bench.js"
import { adopt, forkHelper, spawnCli, type Started } from "./children.js"
import { DriverKind } from "./driverSetup.js"
import type { BenchModel } from "./models.js"
import { dist } from "./paths.js"
import { round, sampleProcess, type Watched } from "./procStats.js"
import { rpcClient } from "./rpc.js"
import { type Row, Section, type Soak } from "./rows.js"

/**
 * The batching variants. HOOK: when the actor accepts the per-model `batching` key, both rows run
 * with it; until then the config is rejected (unknown key) and the bench falls back / skips.
 * "off" tries an explicit no-batching setting first, then no key at all ("current actor").
 */
export const BATCHING_VARIANTS = [
  { id: "off", label: "modelbus (batching off)", batching: { maxBatchSize: 1, maxDelayMs: 0 }, fallbackLabel: "modelbus (current actor)" },
  { id: "on", label: "modelbus (batching on: ≤32, no wait)", batching: { maxBatchSize: 32, maxDelayMs: 0 } }
] as const

const REPLICAS = 2

const writeConfig = async (model: BenchModel, extra: Record<string, unknown>): Promise<string> => {
  const dir = await mkdtemp(join(tmpdir(), "modelbus-bench-"))
  const file = join(dir, "modelbus.yaml")
  await writeFile(file, stringify({ prefix: "modelbus", models: [{ name: model.name, path: model.dir, replicas: REPLICAS, ...extra }] }))
  return file
}

interface Supervised {
  readonly supervisor: Started
  readonly actors: ReadonlyArray<{ id: string; pid: number }>
}

/** Starts a supervisor and waits for its actors; a string (the reason) when the config is rejected because of the batching key. */
const startSupervisor = async (ctx: BenchContext, model: BenchModel, extra: Record<string, unknown>): Promise<Supervised | string> => {
  const file = await writeConfig(model, extra)
  const supervisor = spawnCli(["supervise", "--config", file, "--server", ctx.natsUrl], `supervisor ${model.name}`, { MODELBUS_BACKEND: "wasm" })
  try {
    await supervisor.waitForLine(/modelbus ready/, 90_000)
  } catch (error) {
    await supervisor.stop()
    const output = supervisor.output()
    if ("batching" in extra && /batching/.test(output)) return output.split("\n").find((l) => /batching/.test(l))?.trim() ?? "batching rejected"
    throw error
  }
  const actors = await actorsOf(ctx, model)
  for (const a of actors) adopt(a.pid)
  return { supervisor, actors }
}

const withClient = async <A>(ctx: BenchContext, f: (client: Awaited<ReturnType<Awaited<ReturnType<typeof dist.client>>["connect"]>>) => Promise<A>): Promise<A> => {
  const { connect } = await dist.client()
  const client = await connect({ servers: ctx.natsUrl, name: "bench-status" })
  try {
    return await f(client)
  } finally {
    await client.close()
  }
}

const actorStatuses = (ctx: BenchContext, model: BenchModel) =>
  withClient(ctx, async (client) => (await client.status()).flatMap((s) => s.actors).filter((a) => a.model === model.name && a.state === "serving" && a.pid !== null))

const actorsOf = async (ctx: BenchContext, model: BenchModel) => {
  for (let tries = 0; tries < 50; tries++) {
    const actors = await actorStatuses(ctx, model)
    if (actors.length >= REPLICAS) return actors.map((a) => ({ id: a.id, pid: a.pid! }))
    await new Promise((r) => setTimeout(r, 200))
  }
  throw new Error(`status did not show ${REPLICAS} serving actors of ${model.name}`)
}

/** Every batching variant at every concurrency; the soak after the first variant that runs (when `soak`). */
export const runModelbus = async (ctx: BenchContext, model: BenchModel, soak: boolean): Promise<Array<Row>> => {
  const rows: Array<Row> = []
  let soaked = false
  for (const variant of BATCHING_VARIANTS) {
    let started = await startSupervisor(ctx, model, { batching: variant.batching })
    let label: string = variant.label
    if (typeof started === "string" && "fallbackLabel" in variant) {
      ctx.notes.push(`${model.name}: the \`batching\` model key is not accepted yet (${started}); "${variant.fallbackLabel}" runs the actor as it is.`)
      label = variant.fallbackLabel
      started = await startSupervisor(ctx, model, {})
    }
    if (typeof started === "string") {
      ctx.notes.push(`${model.name}: "${variant.label}" skipped: the \`batching\` key is rejected by this modelbus (${started}).`)
      ctx.log(`  ${model.name} ${variant.label}: skipped (batching not supported yet)`)
      continue
    }
    const { supervisor, actors } = started
    try {
      const servers: Array<Watched> = [...actors.map((a) => ({ role: a.id.split("@")[0]!, pid: a.pid })), { role: "supervisor", pid: supervisor.pid }]
      rows.push(...await driverRows(ctx, {
        section: Section.modelbus,
        scenario: label,
        model: model.name,
        setup: { kind: DriverKind.modelbus, timeoutMs: 30_000 },
        servers,
        concurrencies: ctx.timing.modelbusConcurrency,
        durationMs: ctx.timing.modelbusMs
      }))
      if (variant.id === "off") {
        const { subjects } = await dist.subjects()
        rows.push(...await driverRows(ctx, {
          section: Section.diagnostic,
          scenario: "actors ← muxed raw client",
          model: model.name,
          setup: { kind: DriverKind.muxed, subject: subjects("modelbus").infer(model.name), timeoutMs: 30_000 },
          servers,
          concurrencies: ctx.timing.diagnosticConcurrency,
          durationMs: ctx.timing.modelbusMs,
          note: `${label}'s actors driven by the bench's muxed-inbox client with pre-encoded request bodies: the actors' own limit`
        }))
      }
      if (soak && !soaked) {
        ctx.soaks.push(await runSoak(ctx, model, label, actors, servers))
        soaked = true
      }
    } finally {
      await supervisor.stop()
    }
  }
  return rows
}

const statusRss = async (ctx: BenchContext, model: BenchModel) => {
  // Heartbeats carry tensors and rssBytes once a second: wait for a fresh one.
  await new Promise((r) => setTimeout(r, 1_500))
  return new Map((await actorStatuses(ctx, model)).map((a) => [a.pid!, a]))
}

/** `soakRequests` requests at concurrency 64 through the modelbus client; tensors and RSS of each actor before and after. */
const runSoak = async (ctx: BenchContext, model: BenchModel, label: string, actors: ReadonlyArray<{ id: string; pid: number }>, servers: ReadonlyArray<Watched>): Promise<Soak> => {
  ctx.log(`  ${model.name} soak: ${ctx.timing.soakRequests} requests at c=64 ...`)
  const before = await statusRss(ctx, model)
  const procBefore = new Map(actors.map((a) => [a.pid, sampleProcess(a.pid)]))
  const driver = forkHelper("bench/lib/driver.ts", "driver soak")
  let summary
  try {
    await helperReady(driver)
    const rpc = rpcClient(driver.child, driver.name)
    await rpc.call({ type: "setup", setup: { kind: DriverKind.modelbus, timeoutMs: 30_000, natsUrl: ctx.natsUrl, model: model.name } }, 60_000)
    const row = await measure(ctx, { section: Section.modelbus, scenario: `${label} soak`, model: model.name, setup: { kind: DriverKind.modelbus, timeoutMs: 30_000 }, servers, concurrencies: [64], durationMs: 0 }, rpc, driver.pid, {
      concurrency: 64,
      warmupMs: 0,
      durationMs: 600_000,
      maxRequests: ctx.timing.soakRequests
    })
    ctx.rows.pop() // the soak is reported on its own, not as a throughput row
    summary = row.summary
    await rpc.call({ type: "close" }, 30_000).catch(() => undefined)
  } finally {
    await driver.stop()
  }
  const after = await statusRss(ctx, model)
  const soak: Soak = {
    model: model.name,
    scenario: label,
    requests: summary.count,
    errors: summary.errors,
    seconds: round(summary.seconds, 2),
    actors: actors.map((a) => {
      const pb = procBefore.get(a.pid)
      const pa = sampleProcess(a.pid)
      return {
        id: a.id,
        pid: a.pid,
        tensorsBefore: before.get(a.pid)?.tensors ?? -1,
        tensorsAfter: after.get(a.pid)?.tensors ?? -1,
        rssMbBefore: round((pb?.rssBytes ?? 0) / 2 ** 20, 1),
        rssMbAfter: round((pa?.rssBytes ?? 0) / 2 ** 20, 1),
        statusRssMbBefore: round((before.get(a.pid)?.rssBytes ?? 0) / 2 ** 20, 1),
        statusRssMbAfter: round((after.get(a.pid)?.rssBytes ?? 0) / 2 ** 20, 1)
      }
    })
  }
  for (const a of soak.actors) {
    ctx.log(`  ${model.name} soak ${a.id}: tensors ${a.tensorsBefore} → ${a.tensorsAfter}, RSS ${a.rssMbBefore} → ${a.rssMbAfter} MB`)
  }
  return soak
}
