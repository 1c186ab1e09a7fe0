// How fast modelbus's processes start: `modelbus --help`, `modelbus status --json` (against a live
// supervisor) and an actor (fork → ready over IPC), for this build and optionally a baseline dist/, in
// interleaved rounds (A B, then B A, ...) so that both see the same machine; median and spread per case.
import { execFileSync, fork, spawn } from "node:child_process"
import { mkdtemp, writeFile } from "node:fs/promises"
import { cpus, loadavg, tmpdir } from "node:os"
import { dirname, join } from "node:path"
import { ACTOR_SETTINGS_ENV, type ActorMessage, type ActorSettings } from "../../src/protocol/ipc.js"
import { spawnCli } from "./children.js"
import { roundOrder } from "./interleave.js"
import { IRIS_MODEL_DIR, ROOT } from "./paths.js"
import { quantile } from "./stats.js"

/** A built dist/ folder to start the programs from. */
export interface Build {
  readonly label: string
  readonly dist: string
  /** The commit its checkout was at when measured (filled in by measureCliStart). */
  readonly commit?: string | undefined
}

export interface StartFigures {
  readonly case: string
  readonly build: string
  /** Wall-clock milliseconds of each round, in the order measured. */
  readonly samplesMs: ReadonlyArray<number>
  readonly medianMs: number
  readonly p25Ms: number
  readonly p75Ms: number
  readonly minMs: number
  readonly maxMs: number
}

export interface CliStartResults {
  readonly rounds: number
  readonly node: string
  readonly builds: ReadonlyArray<Build>
  readonly figures: ReadonlyArray<StartFigures>
  /** The machine's 1-minute load average when the rounds began and when they ended, and its cores. */
  readonly load: { readonly before: number; readonly after: number; readonly cores: number }
}

/** Median, quartiles and range of the samples of one case and build. */
export const summarize = (caseName: string, build: string, samplesMs: ReadonlyArray<number>): StartFigures => {
  const sorted = [...samplesMs].sort((a, b) => a - b)
  return {
    case: caseName,
    build,
    samplesMs,
    medianMs: quantile(sorted, 0.5),
    p25Ms: quantile(sorted, 0.25),
    p75Ms: quantile(sorted, 0.75),
    minMs: sorted[0] ?? Number.NaN,
    maxMs: sorted[sorted.length - 1] ?? Number.NaN
  }
}

/** Runs `node <dist>/cli/main.js ...args` to its exit; resolves with the milliseconds it took. */
const timeCli = (dist: string, args: ReadonlyArray<string>) =>
  new Promise<number>((resolve, reject) => {
    const started = performance.now()
    const child = spawn(process.execPath, [join(dist, "cli/main.js"), ...args], { stdio: ["ignore", "pipe", "pipe"] })
    let output = ""
    child.stdout.on("data", (c: Buffer) => (output += c.toString()))
    child.stderr.on("data", (c: Buffer) => (output += c.toString()))
    child.once("error", reject)
    child.once("close", (code) => {
      const ms = performance.now() - started
      if (code === 0) resolve(ms)
      else reject(new Error(`modelbus ${args.join(" ")} (${dist}) exited ${code}:\n${output}`))
    })
  })

/** Forks `<dist>/actors/main.js` as a supervisor does; resolves with the milliseconds until it reports ready, then stops it. */
const timeActor = (dist: string, settings: ActorSettings) =>
  new Promise<number>((resolve, reject) => {
    const started = performance.now()
    const child = fork(join(dist, "actors/main.js"), [], {
      // as a supervisor forks a built actor: without the bench's own loader (tsx), which would slow its imports
      execArgv: [],
      env: { ...process.env, [ACTOR_SETTINGS_ENV]: JSON.stringify(settings) },
      stdio: ["ignore", "pipe", "pipe", "ipc"],
      serialization: "advanced"
    })
    let output = ""
    child.stdout!.on("data", (c: Buffer) => (output += c.toString()))
    child.stderr!.on("data", (c: Buffer) => (output += c.toString()))
    let readyMs: number | undefined
    child.on("message", (message) => {
      if ((message as ActorMessage).type !== "ready" || readyMs !== undefined) return
      readyMs = performance.now() - started
      child.kill("SIGTERM")
    })
    child.once("exit", (code) => {
      if (readyMs !== undefined) resolve(readyMs)
      else reject(new Error(`actor (${dist}) exited ${code} before it was ready:\n${output}`))
    })
  })

const PREFIX = "clistart"

/**
 * Measures the start cases for each build, `rounds` interleaved rounds after one unrecorded warm-up
 * (which also fills Node's compile cache where there is one). `status --json` asks a supervisor of
 * the first build serving the Iris model on its own prefix, started here and stopped at the end.
 */
export const measureCliStart = async (options: {
  readonly natsUrl: string
  readonly builds: ReadonlyArray<Build>
  readonly rounds: number
  readonly actor?: boolean
  readonly log: (line: string) => void
}): Promise<CliStartResults> => {
  const dir = await mkdtemp(join(tmpdir(), "modelbus-clistart-"))
  const config = join(dir, "modelbus.yaml")
  await writeFile(
    config,
    JSON.stringify({ prefix: PREFIX, models: [{ name: "iris", path: IRIS_MODEL_DIR, replicas: 1 }] })
  )
  const supervisor = spawnCli(["supervise", "--config", config, "--server", options.natsUrl], "clistart supervisor")
  try {
    await supervisor.waitForLine(/modelbus ready/, 120_000)
    const actorSettings: ActorSettings = {
      id: "clistart-1@bench",
      model: "clistart",
      path: IRIS_MODEL_DIR,
      servers: options.natsUrl,
      prefix: `${PREFIX}-actor`,
      version: 1,
      heartbeatMs: 60_000
    }
    const cases: ReadonlyArray<{ readonly name: string; readonly run: (dist: string) => Promise<number> }> = [
      { name: "modelbus --help", run: (dist) => timeCli(dist, ["--help"]) },
      {
        name: "modelbus status --json",
        run: (dist) => timeCli(dist, ["status", "--json", "--server", options.natsUrl, "--prefix", PREFIX])
      },
      ...(options.actor === false
        ? []
        : [{ name: "actor fork → ready", run: (dist: string) => timeActor(dist, actorSettings) }])
    ]
    const loadBefore = loadavg()[0]!
    const samples = new Map<string, Array<number>>()
    for (let round = -1; round < options.rounds; round++) {
      for (const c of cases) {
        for (const build of roundOrder(options.builds, Math.max(0, round))) {
          const ms = await c.run(build.dist)
          if (round < 0) continue
          const key = `${c.name}\u0000${build.label}`
          samples.set(key, [...(samples.get(key) ?? []), ms])
        }
      }
      if (round >= 0 && (round + 1) % 5 === 0) options.log(`  round ${round + 1}/${options.rounds}`)
    }
    const figures = cases.flatMap((c) =>
      options.builds.map((b) => summarize(c.name, b.label, samples.get(`${c.name}\u0000${b.label}`) ?? []))
    )
    const load = { before: loadBefore, after: loadavg()[0]!, cores: cpus().length }
    const builds = options.builds.map((b) => ({ ...b, commit: commitOf(b.dist) }))
    return { rounds: options.rounds, node: process.version, builds, figures, load }
  } finally {
    await supervisor.stop()
  }
}

/** A dist/ folder as the report shows it: relative to the project when inside it. */
/** The commit a build's checkout is at (the folder above its dist/), when it is a git checkout. */
const commitOf = (dist: string): string | undefined => {
  try {
    return execFileSync("git", ["-C", dirname(dist), "log", "-1", "--format=%h %s"], { encoding: "utf8" }).trim()
  } catch {
    return undefined
  }
}

const shown = ({ dist, commit }: Build) => {
  const where = dist.startsWith(`${ROOT}/`) ? `${dist.slice(ROOT.length + 1)}/` : dist
  return commit === undefined
    ? `\`${where}\``
    : `\`${where}\` (commit ${commit.length > 90 ? `${commit.slice(0, 89)}…` : commit})`
}

const ms = (n: number) => (Number.isFinite(n) ? `${Math.round(n)} ms` : "–")

/** The figures as a Markdown table: one row per case and build. */
export const cliStartTable = (r: CliStartResults): string =>
  [
    "| case | build | median | p25 – p75 | min – max |",
    "| --- | --- | --- | --- | --- |",
    ...r.figures.map(
      (f) =>
        `| ${f.case} | ${f.build} | ${ms(f.medianMs)} | ${ms(f.p25Ms)} – ${ms(f.p75Ms)} | ${ms(f.minMs)} – ${ms(f.maxMs)} |`
    )
  ].join("\n")

/** The "CLI start" section of BENCHMARKS.md for these figures. */
export const cliStartSection = (r: CliStartResults): string =>
  [
    "## CLI start",
    "",
    `Wall-clock time from spawning the process to its exit (\`--help\`, \`status --json\` against one supervisor serving Iris) or to its ready message (an actor forked as a supervisor forks it, loading Iris on the WASM backend), on Node ${r.node}. ` +
      `${r.rounds} rounds after one warm-up; in each round every case runs once per build, the order of the builds alternating between rounds. ` +
      `The machine's load average was ${r.load.before.toFixed(1)} when the rounds began and ${r.load.after.toFixed(1)} when they ended (${r.load.cores} cores): other programs ran meanwhile, and on a busy machine every figure grows.` +
      (r.builds.length > 1 ? ` Builds: ${r.builds.map((b) => `${b.label} = ${shown(b)}`).join(", ")}.` : ""),
    "",
    cliStartTable(r),
    ""
  ].join("\n")
