// modelbus as a user runs it: a config file, `modelbus supervise` as a process, the actors it
// reports in `status`; the throughput rows per batching variant, and the 100k-request soak.
import { mkdtemp, rm, writeFile } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { stringify } from "yaml"
import { type BenchContext, driverRows, helperReady, measure } from "./bench.js"
import { adopt, forkHelper, type Started, spawnCli } from "./children.js"
import { DriverKind } from "./driverSetup.js"
import type { BenchModel } from "./models.js"
import { dist } from "./paths.js"
import { round, sampleProcess, type Watched } from "./procStats.js"
import { type Row, Section, type Soak } from "./rows.js"
import { rpcClient } from "./rpc.js"

/**
 * The batching variants. HOOK: when the actor accepts the per-model `batching` key, both rows run
 * with it; until then the config is rejected (unknown key) and the bench falls back / skips.
 * "off" tries an explicit no-batching setting first, then no key at all ("current actor").
 */
export const BATCHING_VARIANTS: ReadonlyArray<{
  readonly id: "off" | "on"
  readonly label: string
  readonly batching: { readonly maxBatchSize: number; readonly maxDelayMs: number }
  readonly fallbackLabel?: string
}> = [
  {
    id: "off",
    label: "modelbus (batching off)",
    batching: { maxBatchSize: 1, maxDelayMs: 0 },
    fallbackLabel: "modelbus (current actor)"
  },
  { id: "on", label: "modelbus (batching on: ≤32, no wait)", batching: { maxBatchSize: 32, maxDelayMs: 0 } }
]

const REPLICAS = 2

/** Writes the config into a fresh temp folder; returns the file and the folder's removal. */
const writeConfig = async (model: BenchModel, extra: Record<string, unknown>) => {
  const dir = await mkdtemp(join(tmpdir(), "modelbus-bench-"))
  const file = join(dir, "modelbus.yaml")
  await writeFile(
    file,
    stringify({ prefix: "modelbus", models: [{ name: model.name, path: model.dir, replicas: REPLICAS, ...extra }] })
  )
  return { file, remove: () => rm(dir, { recursive: true, force: true }) }
}

interface Supervised {
  readonly supervisor: Started
  readonly actors: ReadonlyArray<{ id: string; pid: number }>
  /** Stops the supervisor (it drains its actors) and removes its config. */
  readonly stop: () => Promise<void>
}

/** Starts a supervisor and waits for its actors; a string (the reason) when the config is rejected because of the batching key. */
export const startSupervisor = async (
  ctx: BenchContext,
  model: BenchModel,
  extra: Record<string, unknown>
): Promise<Supervised | string> => {
  const config = await writeConfig(model, extra)
  const supervisor = spawnCli(
    ["supervise", "--config", config.file, "--server", ctx.natsUrl],
    `supervisor ${model.name}`,
    { MODELBUS_BACKEND: "wasm" }
  )
  const stop = async () => {
    await supervisor.stop()
    await config.remove()
  }
  try {
    await supervisor.waitForLine(/modelbus ready/, 90_000)
  } catch (error) {
    await stop()
    const output = supervisor.output()
    if ("batching" in extra && /batching/.test(output))
      return (
        output
          .split("\n")
          .find((l) => /batching/.test(l))
          ?.trim() ?? "batching rejected"
      )
    throw error
  }
  try {
    const actors = await actorsOf(ctx, model)
    for (const a of actors) adopt(a.pid)
    return { supervisor, actors, stop }
  } catch (error) {
    await stop()
    throw error
  }
}

const withClient = async <A>(
  ctx: BenchContext,
  f: (client: Awaited<ReturnType<Awaited<ReturnType<typeof dist.client>>["connect"]>>) => Promise<A>
): Promise<A> => {
  const { connect } = await dist.client()
  const client = await connect({ servers: ctx.natsUrl, name: "bench-status" })
  try {
    return await f(client)
  } finally {
    await client.close()
  }
}

const actorStatuses = (ctx: BenchContext, model: BenchModel) =>
  withClient(ctx, async (client) =>
    (await client.status())
      .flatMap((s) => s.actors)
      .filter((a) => a.model === model.name && a.state === "serving" && a.pid !== null)
  )

const actorsOf = async (ctx: BenchContext, model: BenchModel) => {
  for (let tries = 0; tries < 50; tries++) {
    const actors = await actorStatuses(ctx, model)
    if (actors.length >= REPLICAS) return actors.map((a) => ({ id: a.id, pid: a.pid! }))
    await new Promise((r) => setTimeout(r, 200))
  }
  throw new Error(`status did not show ${REPLICAS} serving actors of ${model.name}`)
}

/** One modelbus deployment: its rows with the modelbus client, then its actors under the muxed raw client. */
const variantRows = async (
  ctx: BenchContext,
  model: BenchModel,
  label: string,
  short: string,
  servers: ReadonlyArray<Watched>
): Promise<Array<Row>> => {
  const { subjects } = await dist.subjects()
  return [
    ...(await driverRows(ctx, {
      section: Section.modelbus,
      scenario: label,
      model: model.name,
      setup: { kind: DriverKind.modelbus, timeoutMs: 30_000 },
      servers,
      concurrencies: ctx.timing.modelbusConcurrency,
      durationMs: ctx.timing.modelbusMs
    })),
    ...(await driverRows(ctx, {
      section: Section.diagnostic,
      scenario: `actors (${short}) ← muxed raw client`,
      model: model.name,
      setup: { kind: DriverKind.muxed, subject: subjects("modelbus").infer(model.name), timeoutMs: 30_000 },
      servers,
      concurrencies: ctx.timing.diagnosticConcurrency,
      durationMs: ctx.timing.modelbusMs,
      note: `${label}'s actors driven by the bench's muxed-inbox client with pre-encoded request bodies: the actors' own limit`
    }))
  ]
}

export const serversOf = (s: Supervised): Array<Watched> => [
  ...s.actors.map((a) => ({ role: a.id.split("@")[0]!, pid: a.pid })),
  { role: "supervisor", pid: s.supervisor.pid }
]

/**
 * Every batching variant at every concurrency; then (when `soak`) the soak, on a fresh deployment
 * of the last variant that ran (batching on, the default to be, once supported).
 */
export const runModelbus = async (ctx: BenchContext, model: BenchModel, soak: boolean): Promise<Array<Row>> => {
  const rows: Array<Row> = []
  let soakable: { readonly label: string; readonly extra: Record<string, unknown> } | undefined
  for (const variant of BATCHING_VARIANTS) {
    let extra: Record<string, unknown> = { batching: variant.batching }
    let started = await startSupervisor(ctx, model, extra)
    let label: string = variant.label
    let short: string = variant.id === "on" ? "batching on" : "batching off"
    if (typeof started === "string" && variant.fallbackLabel !== undefined) {
      ctx.notes.push(
        `${model.name}: the \`batching\` model key is not accepted yet (${started}); "${variant.fallbackLabel}" runs the actor as it is.`
      )
      label = variant.fallbackLabel
      short = "current actor"
      extra = {}
      started = await startSupervisor(ctx, model, extra)
    }
    if (typeof started === "string") {
      ctx.notes.push(
        `${model.name}: "${variant.label}" skipped: the \`batching\` key is rejected by this modelbus (${started}).`
      )
      ctx.log(`  ${model.name} ${variant.label}: skipped (batching not supported yet)`)
      continue
    }
    soakable = { label, extra }
    try {
      rows.push(...(await variantRows(ctx, model, label, short, serversOf(started))))
    } finally {
      await started.stop()
    }
  }
  if (soak && soakable !== undefined) {
    // A fresh deployment, so the baseline is not inflated by the heap of the c=256 rows before it.
    const started = await startSupervisor(ctx, model, soakable.extra)
    if (typeof started === "string") throw new Error(`cannot start the soak's supervisor: ${started}`)
    try {
      ctx.soaks.push(await runSoak(ctx, model, soakable.label, started))
    } finally {
      await started.stop()
    }
  }
  return rows
}

const statusRss = async (ctx: BenchContext, model: BenchModel) => {
  // Heartbeats carry tensors and rssBytes once a second: wait for a fresh one.
  await new Promise((r) => setTimeout(r, 1_500))
  return new Map((await actorStatuses(ctx, model)).map((a) => [a.pid!, a]))
}

/**
 * `soakRequests` requests at concurrency 64 through the modelbus client, after a warm-up of twice
 * that. An actor's RSS is a sawtooth (the V8 heap grows to its next collection, then shrinks), so
 * the growth compares peaks: the peak RSS during the soak against the peak during the warm-up;
 * tensors and idle RSS before and after are reported too.
 */
const runSoak = async (ctx: BenchContext, model: BenchModel, label: string, started: Supervised): Promise<Soak> => {
  const { actors } = started
  const servers = serversOf(started)
  const warmup = 2 * ctx.timing.soakRequests
  ctx.log(`  ${model.name} soak: ${warmup} warm-up requests, then ${ctx.timing.soakRequests} requests at c=64 ...`)
  const driver = forkHelper("bench/lib/driver.ts", "driver soak")
  let summary: Awaited<ReturnType<typeof measure>>["summary"]
  type Peaks = ReadonlyArray<{ readonly pid: number; readonly peakRssMb: number }>
  let during: Peaks = []
  let warming: Peaks = []
  let before: Awaited<ReturnType<typeof statusRss>>
  let procBefore: Map<number, ReturnType<typeof sampleProcess>>
  try {
    await helperReady(driver)
    const rpc = rpcClient(driver.child, driver.name)
    const setup = { kind: DriverKind.modelbus, timeoutMs: 30_000 }
    await rpc.call({ type: "setup", setup: { ...setup, natsUrl: ctx.natsUrl, model: model.name } }, 60_000)
    const scenario = {
      section: Section.modelbus,
      scenario: `${label} soak`,
      model: model.name,
      setup,
      servers,
      concurrencies: [64],
      durationMs: 0
    }
    const plan = { concurrency: 64, warmupMs: 0, durationMs: 600_000 }
    warming = (
      await measure(ctx, { ...scenario, scenario: `${label} soak warm-up` }, rpc, driver.pid, {
        ...plan,
        maxRequests: warmup
      })
    ).processes
    ctx.rows.pop() // the soak is reported on its own, not as throughput rows
    before = await statusRss(ctx, model)
    procBefore = new Map(actors.map((a) => [a.pid, sampleProcess(a.pid)]))
    const row = await measure(ctx, scenario, rpc, driver.pid, { ...plan, maxRequests: ctx.timing.soakRequests })
    ctx.rows.pop()
    summary = row.summary
    during = row.processes
    await rpc.call({ type: "close" }, 30_000).catch(() => undefined)
  } finally {
    await driver.stop()
  }
  const after = await statusRss(ctx, model)
  const soak: Soak = {
    model: model.name,
    scenario: label,
    warmupRequests: warmup,
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
        peakRssMbWarmup: warming.find((p) => p.pid === a.pid)?.peakRssMb ?? Number.NaN,
        peakRssMbDuring: during.find((p) => p.pid === a.pid)?.peakRssMb ?? Number.NaN,
        statusRssMbBefore: round((before.get(a.pid)?.rssBytes ?? 0) / 2 ** 20, 1),
        statusRssMbAfter: round((after.get(a.pid)?.rssBytes ?? 0) / 2 ** 20, 1)
      }
    })
  }
  for (const a of soak.actors) {
    ctx.log(
      `  ${model.name} soak ${a.id}: tensors ${a.tensorsBefore} → ${a.tensorsAfter}, RSS ${a.rssMbBefore} → ${a.rssMbAfter} MB`
    )
  }
  return soak
}
