// Hostile requests change nothing: 10,000+ malformed infer messages of every kind, interleaved with
// valid ones, sent raw to a real supervisor's two Iris replicas — the TF.js model, then its ONNX twin on
// ONNX Runtime; prints its figures (FUZZ_SEED replays a run, FUZZ_EXCLUDE=<regex> leaves out malformed kinds).
import { mkdtemp } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { headers as natsHeaders } from "@nats-io/transport-node"
import fc from "fast-check"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import type { ActorStatus, HostTensor } from "../../src/client/index.js"
import { decodeReply, encodingOf } from "../../src/protocol/codec.js"
import { ERROR_CODE_HEADER } from "../../src/protocol/errors.js"
import { hostileArbitraries, type Malformed, type Valid } from "../helpers/hostileMessages.js"
import { writeOnnxModel } from "../helpers/onnx/builder.js"
import { denseTwinOf } from "../helpers/onnx/fixtures.js"
import { eventually, IRIS_MODEL, irisRows } from "../helpers/processes.js"
import { type Stack, startStack } from "../helpers/stack.js"

const MALFORMED = 10_000
const VALID = 2_500
/**
 * The warm-up is a round of the same size and mix (other seeds): heaps, buffers and the allocator reach
 * the working size of such a round first, so growth measured over the next one is a leak, not first use
 * (after a warm-up a fifth of the size, RSS grew up to 1.30× over the round on Node 24).
 */
const WARM_UP = MALFORMED
const IN_FLIGHT = 48
const MAX_PAYLOAD = 700 * 1024

let stack: Stack
let rows: Array<Array<number>>
let expected: Array<Array<number>>

/**
 * V8 left to its defaults grows its heap lazily under a stream of garbage (RSS rose ×1.1 to ×1.6 per
 * round of this mix, round after round, while the heap kept after a GC stayed flat): RSS then measures
 * GC timing, not memory held. With the actors' heap capped, garbage is collected promptly and a leak
 * ends in a crash the test counts. RSS growth over the round is printed, not bounded: how much the
 * allocator keeps depends on when the collector ran, which a slow or busy machine changes.
 */
const ACTOR_NODE_OPTIONS = "--max-old-space-size=256 --max-semi-space-size=1"

const irisActors = async (): Promise<Array<ActorStatus>> =>
  (await stack.client.status())
    .flatMap((s) => s.actors)
    .filter((a) => a.model === "iris")
    .sort((a, b) => a.id.localeCompare(b.id))

type Probe = { readonly malformed: Malformed } | { readonly valid: Valid }

const tagged = (decoded: ReturnType<typeof decodeReply>) =>
  decoded.kind === "error" ? `${decoded.error._tag}: ${decoded.error.message}` : decoded.kind

/** What went wrong with one probe's answer, or undefined when it is the one it must be. */
const judge = (probe: Probe, reply: { data: Uint8Array; headers?: { get(k: string): string } }): string | undefined => {
  const code = reply.headers?.get(ERROR_CODE_HEADER) || undefined
  const decoded = decodeReply(reply.data, encodingOf(reply.headers?.get("Content-Type") || undefined))
  if ("malformed" in probe) {
    const want = probe.malformed.expect
    const tag = want === 400 ? "BadInput" : "PayloadTooLarge"
    if (code === String(want) && decoded.kind === "error" && decoded.error._tag === tag) return undefined
    return `expected ${want} ${tag}, received ${code ?? "200"} ${tagged(decoded)}`
  }
  if (decoded.kind !== "reply") return `expected an answer, received ${code} ${tagged(decoded)}`
  const outputs = decoded.reply.outputs
  const tensor = probe.valid.named ? (outputs as Record<string, HostTensor>).species : (outputs as HostTensor)
  const got = tensor === undefined ? [] : Array.from(tensor.data as Float32Array)
  const want = expected[probe.valid.row]!
  return got.length === want.length && got.every((v, i) => v === want[i])
    ? undefined
    : `row ${probe.valid.row}: expected ${want.join(",")}, received ${got.join(",")}`
}

/** `malformed` with a valid request after every fourth, so bad and good ones share the actors' queues and batches. */
const interleave = (malformed: ReadonlyArray<Malformed>, valid: ReadonlyArray<Valid>): Array<Probe> => {
  const probes: Array<Probe> = []
  for (let i = 0, v = 0; i < malformed.length; i++) {
    probes.push({ malformed: malformed[i]! })
    if (i % 4 === 3 && v < valid.length) probes.push({ valid: valid[v++]! })
  }
  return probes
}

interface Round {
  readonly seconds: number
  readonly codes: ReadonlyMap<string, number>
  readonly failures: ReadonlyArray<string>
  readonly slowest: ReadonlyMap<string, number>
  readonly answered: number
}

/** Sends every probe with IN_FLIGHT requests outstanding on the raw connection; judges each answer. */
const send = async (probes: ReadonlyArray<Probe>): Promise<Round> => {
  const started = performance.now()
  const failures: Array<string> = []
  const codes = new Map<string, number>()
  const slowest = new Map<string, number>()
  let next = 0
  const worker = async () => {
    while (next < probes.length) {
      const probe = probes[next++]!
      const message = "malformed" in probe ? probe.malformed : probe.valid
      const h = natsHeaders()
      for (const [k, v] of Object.entries(message.headers ?? {})) h.set(k, v)
      const sent = performance.now()
      try {
        const reply = await stack.raw.request("modelbus.infer.iris", message.body, { timeout: 30_000, headers: h })
        const code = reply.headers?.get(ERROR_CODE_HEADER) || "200"
        codes.set(code, (codes.get(code) ?? 0) + 1)
        const wrong = judge(probe, reply)
        if (wrong !== undefined) failures.push(`${message.kind}: ${wrong}`)
      } catch (error) {
        failures.push(`${message.kind}: no reply (${String(error)})`)
      }
      slowest.set(message.kind, Math.max(slowest.get(message.kind) ?? 0, performance.now() - sent))
    }
  }
  await Promise.all(Array.from({ length: IN_FLIGHT }, worker))
  const answered = [...codes.values()].reduce((n, c) => n + c, 0)
  return { seconds: (performance.now() - started) / 1000, codes, failures, slowest, answered }
}

/** The actors once their heartbeats count `total` answers (served + errors): their state after those. */
const actorsAfter = (total: number) =>
  eventually(
    async () => {
      const now = await irisActors()
      return now.reduce((n, a) => n + a.served + a.errors, 0) >= total ? now : undefined
    },
    15_000,
    "the actors' heartbeats to count every answer"
  )

const counted = (actors: ReadonlyArray<ActorStatus>) => actors.reduce((n, a) => n + a.served + a.errors, 0)
const mb = (bytes: number) => `${(bytes / 2 ** 20).toFixed(1)} MB`

/** The Iris model folder each run serves: the TF.js model, or its ONNX twin (same names, same weights). */
const RUNTIMES = [
  { runtime: "TF.js", modelDir: async () => IRIS_MODEL },
  {
    runtime: "ONNX Runtime",
    modelDir: async () =>
      writeOnnxModel(join(await mkdtemp(join(tmpdir(), "modelbus-hostile-")), "iris"), await denseTwinOf(IRIS_MODEL))
  }
] as const

const startServing = async (modelDir: () => Promise<string>) => {
  const path = await modelDir()
  const inherited = process.env.NODE_OPTIONS
  process.env.NODE_OPTIONS = [inherited, ACTOR_NODE_OPTIONS].filter(Boolean).join(" ")
  try {
    stack = await startStack({
      models: [{ name: "iris", path, replicas: 2, maxPayloadBytes: MAX_PAYLOAD }]
    })
  } finally {
    if (inherited === undefined) delete process.env.NODE_OPTIONS
    else process.env.NODE_OPTIONS = inherited
  }
  rows = await irisRows()
  expected = await Promise.all(
    rows.map(async (row) =>
      Array.from(((await stack.client.infer("iris", [row])).outputs as HostTensor).data as Float32Array)
    )
  )
}

describe.each(RUNTIMES)("hostile requests to $runtime replicas", ({ modelDir }) => {
  beforeAll(() => startServing(modelDir), 120_000)

  afterAll(async () => {
    expect((await stack?.stop())?.code).toBe(0)
  })

  it("answer every malformed message with a typed 4xx and every valid one correctly; no actor exits or leaks", async () => {
    const seed = Number(process.env.FUZZ_SEED ?? Date.now() % 2 ** 31)
    const exclude = process.env.FUZZ_EXCLUDE === undefined ? undefined : new RegExp(process.env.FUZZ_EXCLUDE)
    const { malformedArb, validArb } = hostileArbitraries(rows)
    const sample = (n: number, s: number) =>
      fc.sample(malformedArb, { numRuns: n, seed: s }).filter((m) => exclude === undefined || !exclude.test(m.kind))
    const malformed = sample(MALFORMED, seed)
    const probes = interleave(malformed, fc.sample(validArb, { numRuns: VALID, seed: seed + 1 }))

    // RSS before is measured after the warm-up (see WARM_UP), so the comparison shows growth, not first use
    const start = await irisActors()
    const warmUp = await send(
      interleave(sample(WARM_UP, seed + 2), fc.sample(validArb, { numRuns: VALID, seed: seed + 3 }))
    )
    const before = await actorsAfter(counted(start) + warmUp.answered)
    const round = await send(probes)
    const after = await actorsAfter(counted(before) + round.answered)

    const failures = [...warmUp.failures, ...round.failures]
    const fourXX = (round.codes.get("400") ?? 0) + (round.codes.get("413") ?? 0)
    const byKind = new Map<string, number>()
    for (const m of malformed) byKind.set(m.kind, (byKind.get(m.kind) ?? 0) + 1)
    const ratios = before.map((b, i) => after[i]!.rssBytes / b.rssBytes)
    const crashes = after.reduce((n, a) => n + a.restarts, 0) + after.filter((a, i) => a.pid !== start[i]!.pid).length
    console.log(
      [
        `hostile requests (seed ${seed}): ${probes.length} messages in ${round.seconds.toFixed(1)} s (${IN_FLIGHT} in flight), ${malformed.length} malformed, ${probes.length - malformed.length} valid; warm-up ${warmUp.answered} more`,
        `answers by code: ${[...round.codes].map(([c, n]) => `${c}: ${n}`).join(", ")}; 4xx: ${fourXX}; wrong or missing: ${failures.length}; crashes: ${crashes}`,
        `actor RSS (${ACTOR_NODE_OPTIONS}) at start → before (after warm-up) → after: ${start.map((s, i) => `${s.id} ${mb(s.rssBytes)} → ${mb(before[i]!.rssBytes)} → ${mb(after[i]!.rssBytes)} (×${ratios[i]!.toFixed(3)})`).join("; ")}`,
        `live tensors before → after the round: ${before.map((b, i) => `${b.id} ${b.tensors} → ${after[i]!.tensors}`).join("; ")}`,
        `malformed kinds: ${[...byKind].map(([k, n]) => `${k} ${n}`).join("; ")}`,
        `slowest answer by kind: ${[...round.slowest].map(([k, ms]) => `${k} ${ms.toFixed(0)} ms`).join("; ")}`,
        ...failures.slice(0, 20).map((f) => `  ${f.slice(0, 300)}`)
      ].join("\n")
    )

    expect(failures).toEqual([])
    expect(fourXX).toBe(malformed.length)
    expect(after.map((a) => a.pid)).toEqual(start.map((a) => a.pid))
    expect(after.map((a) => a.restarts)).toEqual(start.map(() => 0))
    // every tensor a request made is disposed, answered or refused: as many live after the round as before it
    expect(after.map((a) => a.tensors)).toEqual(before.map((b) => b.tensors))
  }, 240_000)
})
