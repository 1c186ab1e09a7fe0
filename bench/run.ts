// `npm run bench`: measures, in one run, the in-process ceiling, the messaging ceiling, modelbus,
// the load-per-request anti-pattern and Moleculer for two models, and how fast the CLI and an actor
// start (against a baseline build with --cli-baseline=DIR); writes JSON and BENCHMARKS.md.
import { existsSync } from "node:fs"
import { join, resolve } from "node:path"
import { analyse } from "./lib/analysis.js"
import type { BenchContext } from "./lib/bench.js"
import { runCeiling } from "./lib/ceiling.js"
import { killAllNow, stopAll } from "./lib/children.js"
import { type CliStartResults, cliStartSection, cliStartTable, measureCliStart } from "./lib/cliStart.js"
import { ensureCnnModel } from "./lib/cnnModel.js"
import { runClientAlone, runEcho, runLoadPerRequest, runMoleculer } from "./lib/comparisons.js"
import { type InterleavedResult, runInterleaved } from "./lib/interleavedTargets.js"
import { describeMachine } from "./lib/machine.js"
import { runModelbus } from "./lib/modelbusRun.js"
import { MODELS } from "./lib/models.js"
import { CNN_MODEL_DIR, dist, ROOT } from "./lib/paths.js"
import { quietGate } from "./lib/quiet.js"
import { type Results, textReport, writeJson, writeMarkdown } from "./lib/report.js"
import { FULL, QUICK } from "./lib/rows.js"
import { writeSection } from "./lib/sections.js"
import { speedTargets } from "./lib/speedTargets.js"
import { soakTargets } from "./lib/targets.js"

const args = process.argv.slice(2)
const quick = args.includes("--quick")
const only = args
  .find((a) => a.startsWith("--models="))
  ?.slice("--models=".length)
  .split(",")
/** Only the interleaved target rounds (no start times, no separate scenarios): for quick checks of the hot path. */
const targetsOnly = args.includes("--targets-only")
const writeMd = !targetsOnly && (!quick || args.includes("--write-md"))
/** A dist/ of another build to compare start times with (node_modules/, package.json and examples/ beside it). */
const cliBaseline = args.find((a) => a.startsWith("--cli-baseline="))?.slice("--cli-baseline=".length)
/** Server processes per scenario: modelbus's replica count, mirrored by every comparison. */
const PROCESSES = 2
/** Rounds of the interleaved target windows (ceiling, echo, client, modelbus, peer in turn). */
const INTERLEAVED_ROUNDS = Number(args.find((a) => a.startsWith("--rounds="))?.slice("--rounds=".length) ?? 7)
/** The whole run is abandoned (and everything stopped) past this. */
const budgetMs = quick ? 8 * 60_000 : 20 * 60_000

const log = (line: string) => console.log(line)

let natsStop: (() => Promise<void>) | undefined
let cleaning: Promise<void> | undefined
const cleanup = () =>
  (cleaning ??= (async () => {
    await stopAll().catch(() => undefined)
    await natsStop?.().catch(() => undefined)
  })())

process.on("exit", () => killAllNow())
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.once(signal, () => {
    log(`\n${signal}: stopping every process the bench started ...`)
    void cleanup().finally(() => process.exit(130))
  })
}
const watchdog = setTimeout(() => {
  log(`\nthe bench ran past its ${budgetMs / 60_000} min budget: stopping`)
  void cleanup().finally(() => process.exit(2))
}, budgetMs)
watchdog.unref()

const main = async (): Promise<number> => {
  if (!existsSync(join(ROOT, "dist/cli/main.js"))) {
    log("dist/ is missing: run `npm run build` first (`npm run bench` does)")
    return 1
  }
  const started = performance.now()
  const machine = describeMachine()
  log(
    `modelbus bench (${quick ? "quick smoke run" : "full run"}) on ${machine.cpu}, ${machine.cores} cores, ${machine.memoryGiB} GiB, Node ${machine.node}`
  )
  if (await ensureCnnModel(CNN_MODEL_DIR)) log(`generated the CNN model in ${CNN_MODEL_DIR}`)
  const { startLocalNatsServer } = await dist.natsServer()
  const nats = await startLocalNatsServer()
  natsStop = nats.stop
  log(`nats-server ${nats.url} (pid ${nats.pid})`)
  // Quick runs only smoke-test, so they do not wait for other programs to go quiet.
  const settle = quick ? async () => {} : quietGate({ thresholdCores: 0.3, maxWaitMs: 10_000, budgetMs: 60_000 }, log)
  const ctx: BenchContext = {
    natsUrl: nats.url,
    natsPid: nats.pid,
    quick,
    timing: quick ? QUICK : FULL,
    rows: [],
    soaks: [],
    notes: [],
    log,
    settle
  }
  const failures: Array<string> = []
  const interleaved: Array<InterleavedResult> = []
  const step = async (what: string, run: () => Promise<unknown>) => {
    log(`- ${what}`)
    try {
      await run()
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error)
      failures.push(`${what}: ${message.split("\n")[0]}`)
      ctx.notes.push(`FAILED ${what}: ${message.split("\n")[0]}`)
      log(`  FAILED: ${message}`)
    }
  }
  let cliStart: CliStartResults | undefined
  if (!targetsOnly)
    await step("CLI and actor start", async () => {
      await ctx.settle()
      cliStart = await measureCliStart({
        natsUrl: nats.url,
        builds: [
          { label: "this build", dist: join(ROOT, "dist") },
          ...(cliBaseline === undefined ? [] : [{ label: "baseline", dist: resolve(cliBaseline) }])
        ],
        rounds: quick ? 3 : 15,
        log
      })
      log(cliStartTable(cliStart))
    })
  for (const model of MODELS.filter((m) => only === undefined || only.includes(m.name))) {
    log(`\n# ${model.label}`)
    if (!targetsOnly) {
      await step(`${model.name}: in-process ceiling`, () => runCeiling(ctx, model, PROCESSES))
      await step(`${model.name}: messaging ceiling (NATS echo)`, () => runEcho(ctx, model, PROCESSES))
      await step(`${model.name}: modelbus client alone (canned reply)`, () => runClientAlone(ctx, model, PROCESSES))
      await step(`${model.name}: modelbus`, () => runModelbus(ctx, model, model.name === "iris"))
      await step(`${model.name}: anti-pattern (load per request)`, () => runLoadPerRequest(ctx, model, PROCESSES))
      await step(`${model.name}: peer (Moleculer)`, () => runMoleculer(ctx, model, PROCESSES))
    }
    await step(`${model.name}: targets, interleaved rounds`, async () => {
      interleaved.push(await runInterleaved(ctx, model, PROCESSES, quick ? 2 : INTERLEAVED_ROUNDS))
    })
  }
  await cleanup()
  const results: Results = {
    machine,
    quick,
    timing: ctx.timing,
    rows: ctx.rows,
    soaks: ctx.soaks,
    interleaved,
    targets: [...speedTargets(interleaved), ...soakTargets(ctx.soaks)],
    notes: ctx.notes,
    durationSeconds: (performance.now() - started) / 1000,
    ...(cliStart === undefined ? {} : { cliStart })
  }
  const analysis = analyse(results.rows, machine.cores)
  log(textReport(results))
  log(analysis)
  const json = await writeJson(results)
  log(`wrote ${json}`)
  if (writeMd) {
    log(`wrote ${await writeMarkdown(results, json, analysis)}`)
    if (cliStart !== undefined) await writeSection("cli-start", cliStartSection(cliStart))
  } else
    log("BENCHMARKS.md left as it is (a quick run does not replace the recorded full run; add --write-md to force)")
  if (failures.length > 0) {
    log(`\n${failures.length} scenario(s) failed:\n${failures.map((f) => `  ${f}`).join("\n")}`)
    return 1
  }
  return 0
}

main()
  .then(async (code) => {
    await cleanup()
    process.exit(code)
  })
  .catch(async (error: unknown) => {
    console.error(error)
    await cleanup()
    process.exit(1)
  })
