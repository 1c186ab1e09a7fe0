// Presenting a run: the results table (plain text for stdout, Markdown for BENCHMARKS.md), CPU
// cost per request by process role, the targets section, and the JSON file under bench/results/.
import { mkdir, writeFile } from "node:fs/promises"
import { join } from "node:path"
import type { CliStartResults } from "./cliStart.js"
import type { InterleavedResult } from "./interleavedTargets.js"
import type { Machine } from "./machine.js"
import { RESULTS_DIR, ROOT } from "./paths.js"
import type { ProcDelta } from "./procStats.js"
import { type Row, Section, type Soak, type Timing } from "./rows.js"
import { writeMain } from "./sections.js"
import type { TargetResult } from "./targets.js"

export interface Results {
  readonly machine: Machine
  readonly quick: boolean
  readonly timing: Timing
  readonly rows: ReadonlyArray<Row>
  readonly soaks: ReadonlyArray<Soak>
  /** The rounds behind the speed targets: every variant measured back to back, in a rotating order. */
  readonly interleaved: ReadonlyArray<InterleavedResult>
  readonly targets: ReadonlyArray<TargetResult>
  readonly notes: ReadonlyArray<string>
  readonly durationSeconds: number
  /** Start times of the CLI and an actor (this build, and a baseline build with --cli-baseline). */
  readonly cliStart?: CliStartResults
}

const isServer = (p: ProcDelta) => p.role !== "client" && p.role !== "nats" && p.role !== "supervisor"
const f = (n: number, d: number) => (Number.isFinite(n) ? n.toFixed(d) : "–")
const thousands = (n: number) => Math.round(n).toLocaleString("en-US")

const cpuCell = (ps: ReadonlyArray<ProcDelta>) => {
  const pick = (role: string) => ps.find((p) => p.role === role)
  const servers = ps
    .filter(isServer)
    .map((p) => f(p.cpuSeconds, 2))
    .join("+")
  const sup = pick("supervisor")
  return [
    pick("client") ? f(pick("client")!.cpuSeconds, 2) : "–",
    servers + (sup ? ` (sup ${f(sup.cpuSeconds, 2)})` : ""),
    pick("nats") ? f(pick("nats")!.cpuSeconds, 2) : "–"
  ].join(" · ")
}

const rssCell = (ps: ReadonlyArray<ProcDelta>) => {
  const pick = (role: string) => ps.find((p) => p.role === role)
  const servers = ps
    .filter(isServer)
    .map((p) => f(p.peakRssMb, 0))
    .join("/")
  const sup = pick("supervisor")
  return [
    pick("client") ? f(pick("client")!.peakRssMb, 0) : "–",
    servers + (sup ? ` (sup ${f(sup.peakRssMb, 0)})` : ""),
    pick("nats") ? f(pick("nats")!.peakRssMb, 0) : "–"
  ].join(" · ")
}

const HEADER = [
  "model",
  "section",
  "scenario",
  "c",
  "batch",
  "throughput",
  "p50 ms",
  "p99 ms",
  "errors",
  "CPU s: client · servers · nats",
  "peak RSS MB: client · servers · nats",
  "other load (cores)"
]

const cells = (r: Row): Array<string> => [
  r.model,
  r.section,
  r.scenario,
  String(r.concurrency),
  String(r.batch),
  `${thousands(r.summary.perSecond)} ${r.unit}`,
  f(r.summary.p50Ms, 3),
  f(r.summary.p99Ms, 3),
  String(r.summary.errors),
  cpuCell(r.processes),
  rssCell(r.processes),
  f(r.backgroundCpuSeconds / r.summary.seconds, 2)
]

/** CPU microseconds per request (or sample) spent by each kind of process, from the window's CPU seconds. */
export const costPerRequest = (r: Row) => {
  const n = r.summary.count
  const us = (ps: ReadonlyArray<ProcDelta>) =>
    n > 0 ? (ps.reduce((a, p) => a + p.cpuSeconds, 0) * 1e6) / n : Number.NaN
  const client = us(r.processes.filter((p) => p.role === "client"))
  const servers = us(r.processes.filter(isServer))
  const supervisor = us(r.processes.filter((p) => p.role === "supervisor"))
  const nats = us(r.processes.filter((p) => p.role === "nats"))
  return {
    client,
    servers,
    supervisor,
    nats,
    total: [client, servers, supervisor, nats].filter(Number.isFinite).reduce((a, b) => a + b, 0)
  }
}

const costRows = (rows: ReadonlyArray<Row>) =>
  rows.filter(
    (r) =>
      (r.section === Section.ceiling && r.batch === 1) ||
      r.concurrency === 64 ||
      ((r.section === Section.modelbus || r.section === Section.diagnostic) && r.concurrency === 1)
  )

const COST_HEADER = [
  "model",
  "scenario",
  "c",
  "client µs",
  "servers µs",
  "supervisor µs",
  "nats µs",
  "total CPU µs / request"
]
const costCells = (r: Row) => {
  const c = costPerRequest(r)
  return [
    r.model,
    r.scenario,
    String(r.concurrency),
    f(c.client, 1),
    f(c.servers, 1),
    f(c.supervisor, 1),
    f(c.nats, 1),
    f(c.total, 1)
  ]
}

const textTable = (header: ReadonlyArray<string>, body: ReadonlyArray<ReadonlyArray<string>>) => {
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)))
  const line = (cs: ReadonlyArray<string>) => cs.map((c, i) => c.padEnd(widths[i]!)).join("  ")
  return [line(header), widths.map((w) => "-".repeat(w)).join("  "), ...body.map(line)].join("\n")
}

const mdTable = (header: ReadonlyArray<string>, body: ReadonlyArray<ReadonlyArray<string>>) =>
  [
    `| ${header.join(" | ")} |`,
    `| ${header.map(() => "---").join(" | ")} |`,
    ...body.map((b) => `| ${b.join(" | ")} |`)
  ].join("\n")

const verdict = (t: TargetResult) => (t.pass === null ? "not measured" : t.pass ? "PASS" : "MISS")

const TARGET_HEADER = ["target", "required", "measured", "result"]
const targetCells = (t: TargetResult) => [t.target, t.required, t.measured, verdict(t)]

export const textReport = (r: Results): string =>
  [
    "",
    `== results (${r.quick ? "QUICK smoke run" : "full run"}, ${r.durationSeconds.toFixed(0)} s) ==`,
    textTable(HEADER, r.rows.map(cells)),
    "",
    "== CPU cost per request (µs of CPU per request; ceiling rows: per sample) ==",
    textTable(COST_HEADER, costRows(r.rows).map(costCells)),
    "",
    "== targets ==",
    textTable(TARGET_HEADER, r.targets.map(targetCells)),
    ...(r.notes.length > 0 ? ["", "notes:", ...r.notes.map((n) => `- ${n}`)] : []),
    ""
  ].join("\n")

export const writeJson = async (r: Results): Promise<string> => {
  await mkdir(RESULTS_DIR, { recursive: true })
  const stamp = r.machine.date.replace(/:/g, "-").replace(/\.\d+Z$/, "Z")
  const file = join(RESULTS_DIR, `${stamp}${r.quick ? "-quick" : ""}.json`)
  await writeFile(file, `${JSON.stringify(r, null, 2)}\n`)
  return file
}

/** Writes a separate bench's figures to bench/results/<name>-<time>.json. */
export const writeResultJson = async (name: string, figures: { readonly machine: Machine }): Promise<string> => {
  await mkdir(RESULTS_DIR, { recursive: true })
  const stamp = figures.machine.date.replace(/:/g, "-").replace(/\.\d+Z$/, "Z")
  const file = join(RESULTS_DIR, `${name}-${stamp}.json`)
  await writeFile(file, `${JSON.stringify(figures, null, 2)}\n`)
  return file
}

export const writeMarkdown = async (r: Results, jsonFile: string, analysis: string): Promise<string> => {
  const m = r.machine
  const t = r.timing
  const text = [
    "# Benchmarks",
    "",
    "Measured by `npm run bench` (`bench/run.ts`) in one run on one machine; `npm run bench -- --quick` is a short smoke run.",
    `This file is rewritten by every run; the raw figures of this one are in \`${jsonFile.replace(`${ROOT}/`, "")}\`.`,
    "",
    "## Machine",
    "",
    `- CPU: ${m.cpu}, ${m.cores} cores`,
    `- memory: ${m.memoryGiB} GiB`,
    `- Node.js ${m.node} on ${m.os}`,
    `- ${m.natsServer}`,
    `- packages: ${Object.entries(m.packages)
      .map(([k, v]) => `${k} ${v}`)
      .join(", ")}`,
    `- date: ${m.date}${r.quick ? " (QUICK smoke run: short windows, not for quoting)" : ""}; the run took ${r.durationSeconds.toFixed(0)} s`,
    "",
    "## Method",
    "",
    `- Every model runs on the TensorFlow.js WASM backend, with 2 server processes wherever modelbus has 2 actor replicas (in-process workers, echo responders, load-per-request responders, Moleculer nodes).`,
    `- Load is closed-loop from a separate driver process: \`c\` requests in flight, ${t.warmupMs} ms unrecorded warm-up, then a window of ${t.modelbusMs / 1000} s (modelbus, Moleculer), ${t.echoMs / 1000} s (echo), ${t.antiMs / 1000} s (anti-pattern), ${t.ceilingMs / 1000} s (ceiling, per batch size).`,
    "- Requests carry one sample as msgpack built by modelbus's own `encodeRequest` (Iris: 4 floats; CNN: 28×28×1 floats); the echo replies with the request's bytes.",
    "- CPU is user+sys seconds of each process within the window (/proc/<pid>/stat); peak RSS is VmHWM within the window (reset through /proc/<pid>/clear_refs). Servers are listed per process; `sup` is the modelbus supervisor.",
    "- In-process rows count samples per second and their latencies are per predict call (a whole batch).",
    "- Diagnostic rows measure modelbus's two halves apart: its actors driven by the bench's muxed-inbox client (pre-encoded bodies), and its client against responders that send one canned reply.",
    "- `other load` is CPU used during the window by processes outside the row (other programs on the machine, the bench's orchestrator), in cores: rows with a high figure were measured on a busy machine.",
    "",
    "## Results",
    "",
    mdTable(HEADER, r.rows.map(cells)),
    "",
    "## CPU cost per request",
    "",
    "CPU microseconds each kind of process spends per request (in-process rows: per sample). With 2 cores, 2,000,000 µs of CPU exist per second, so `2e6 / total` bounds the throughput.",
    "",
    mdTable(COST_HEADER, costRows(r.rows).map(costCells)),
    "",
    ...(r.soaks.length > 0
      ? [
          "## Soak",
          "",
          ...r.soaks.flatMap((s) => [
            `${s.model}, ${s.scenario}, a fresh deployment: ${s.warmupRequests.toLocaleString("en-US")} warm-up requests, then ${s.requests.toLocaleString("en-US")} requests at c=64 in ${s.seconds} s, ${s.errors} errors. ` +
              "An actor's RSS is a sawtooth (the V8 heap grows until a collection, then shrinks), so growth compares the peak RSS during the soak with the peak during the warm-up; idle RSS (after 1.5 s without requests) is shown before and after.",
            "",
            mdTable(
              [
                "actor",
                "pid",
                "tensors before → after",
                "peak RSS MB warm-up → soak",
                "idle RSS MB before → after (/proc)",
                "idle RSS MB before → after (status)"
              ],
              s.actors.map((a) => [
                a.id,
                String(a.pid),
                `${a.tensorsBefore} → ${a.tensorsAfter}`,
                `${f(a.peakRssMbWarmup, 1)} → ${f(a.peakRssMbDuring, 1)}`,
                `${a.rssMbBefore} → ${a.rssMbAfter}`,
                `${a.statusRssMbBefore} → ${a.statusRssMbAfter}`
              ])
            ),
            ""
          ])
        ]
      : []),
    "## Targets",
    "",
    `Every speed target is judged on interleaved rounds: per model, the in-process ceiling (its best batch size, chosen once), the muxed NATS echo, the modelbus client against canned replies, modelbus and Moleculer run one after another in each round (rotating order; c=64 windows of ${r.interleaved[0]?.windowMs ?? "–"} ms, c=1 windows half as long), on servers started once for all rounds. Each figure is computed within a round and reported as the median of the rounds (min–max): the machine's speed drifts by tens of percent within a minute, so figures from different minutes are not compared.`,
    "",
    mdTable(TARGET_HEADER, r.targets.map(targetCells)),
    "",
    ...(r.notes.length > 0 ? ["## Notes", "", ...r.notes.map((n) => `- ${n}`), ""] : []),
    ...(analysis.trim().length > 0 ? [analysis.trim(), ""] : [])
  ].join("\n")
  return writeMain(text)
}
