// Canary and shadow traffic on a real JetStream nats-server, a real supervisor and the real CLI: the split's
// share, sticky keys, a raw NATS JSON caller, the guard aborting a wrong candidate by itself, promotion with no
// failed request, a replica killed mid-canary, two operators racing, and every refusal leaving stable untouched.
import { headers as natsHeaders } from "@nats-io/transport-node"
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest"
import type { CanaryReport, CanaryRollout, HostTensor, LifecycleEvent, PromoteResult } from "../../src/client/index.js"
import { CONTENT_TYPE_HEADER, decodeReply, encodeRequest, JSON_CONTENT_TYPE } from "../../src/protocol/codec.js"
import { subjects } from "../../src/protocol/subjects.js"
import { permutedIris, scaledIris } from "../helpers/irisVariants.js"
import { expectedAnswers, startLoad } from "../helpers/load.js"
import { eventually, FIXTURES, IRIS_MODEL, irisRows, runCli } from "../helpers/processes.js"
import { parseScrape, sampleValue } from "../helpers/prometheus.js"
import { type Stack, startStack } from "../helpers/stack.js"

let stack: Stack
let metricsPort: number
let rows: Array<Array<number>>
let scaled: string
const SETOSA = [5.1, 3.5, 1.4, 0.2]
const INFER = subjects().infer("iris")

const cli = (...args: Array<string>) => runCli([...args, "--server", stack.nats.url])
const json = <A>(output: string): A => JSON.parse(output.slice(output.indexOf("{"))) as A

/** The one line a failed command printed (progress lines aside), and its exit code. */
const refusal = async (...args: Array<string>) => {
  const r = await cli(...args)
  const lines = r.output.trim().split("\n")
  return { code: r.code, lines }
}

const actors = async () => (await stack.client.status()).flatMap((s) => s.actors).filter((a) => a.model === "iris")

/** A raw NATS request (msgpack, or JSON with its Content-Type), with extra headers; the reply's version and actor. */
const rawInfer = async (row: ReadonlyArray<number>, options: { json?: boolean; user?: string } = {}) => {
  const h = natsHeaders()
  if (options.json === true) h.set(CONTENT_TYPE_HEADER, JSON_CONTENT_TYPE)
  if (options.user !== undefined) h.set("user", options.user)
  const body =
    options.json === true
      ? new TextEncoder().encode(JSON.stringify({ inputs: [row] }))
      : encodeRequest([row], undefined, "msgpack")
  const msg = await stack.raw.request(INFER, body, { timeout: 5_000, headers: h })
  if (options.json === true) {
    const reply = JSON.parse(new TextDecoder().decode(msg.data)) as { version: number; actor: string }
    return { version: reply.version, actor: reply.actor }
  }
  const decoded = decodeReply(msg.data, "msgpack")
  if (decoded.kind !== "reply") throw new Error(`not a reply: ${JSON.stringify(decoded)}`)
  return { version: decoded.reply.version, actor: decoded.reply.actor }
}

/**
 * Runs `n` requests `concurrency` at a time through the client; how many each version answered. One
 * attempt per call and no hedge: a second copy would be answered, and counted, by a replica too.
 */
const versionCounts = async (n: number, concurrency = 16) => {
  const counts = new Map<number, number>()
  let next = 0
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < n) {
        const i = next++
        const reply = await stack.client.infer("iris", [rows[i % rows.length]!], { hedge: false, retry: false })
        counts.set(reply.version, (counts.get(reply.version) ?? 0) + 1)
      }
    })
  )
  return counts
}

const scrape = async () => parseScrape(await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text())

const abortIfRunning = async () => {
  await cli("canary", "abort", "iris")
}

beforeAll(async () => {
  stack = await startStack({
    metrics: { port: 0 },
    models: [{ name: "iris", path: IRIS_MODEL, replicas: 2, heartbeatMs: 100 }]
  })
  metricsPort = Number(/on port (\d+)/.exec(await stack.supervisor.waitForLine(/modelbus metrics: .* on port \d+/))![1])
  rows = await irisRows()
  scaled = await scaledIris(1.05)
}, 120_000)

afterAll(async () => {
  expect((await stack?.stop())?.code).toBe(0)
})

// a test that failed with its canary running leaves the next one a stable-only model
afterEach(abortIfRunning)

describe("canary", () => {
  it("refuses bad input in one typed line (exit 1; a usage error exits 2) and leaves the stable version untouched", async () => {
    const cases: Array<[Array<string>, RegExp]> = [
      [
        ["--version", "9", "--percent", "10"],
        /^modelbus: VersionNotFound: iris has no version 9: kept versions are 1$/
      ],
      [
        ["--path", `${FIXTURES}/two-inputs`, "--percent", "10"],
        /^modelbus: IncompatibleSignature: refusing .*two-inputs as the canary of iris: inputs differ/
      ],
      [
        ["--path", scaled, "--percent", "101"],
        /^modelbus: BadInput: --percent must be a number from 0 to 100, received 101$/
      ],
      [
        ["--path", scaled, "--percent", "10", "--shadow", "200"],
        /^modelbus: BadInput: --shadow must be a number from 0/
      ],
      [
        ["--path", scaled, "--percent", "10", "--sticky-key", "user"],
        /^modelbus: BadInput: --sticky-key "user" is not a field of iris's requests: expected one of its inputs \(measurements\) or header:NAME$/
      ],
      [
        ["--path", scaled, "--percent", "10", "--guard", "agreement=0.9"],
        /^modelbus: BadInput: --guard: unknown threshold/
      ],
      [["--version", "1", "--percent", "10"], /^modelbus: BadInput: v1 is the version iris serves now/]
    ]
    for (const [args, line] of cases) {
      const r = await refusal("canary", "iris", ...args)
      expect(r.code, args.join(" ")).toBe(1)
      expect(r.lines, args.join(" ")).toHaveLength(1)
      expect(r.lines[0]).toMatch(line)
    }
    const usage = await cli("canary", "iris", "--path", scaled)
    expect(usage.code).toBe(2)
    expect(usage.output).toMatch(/Missing required flag: --percent/)
    for (const sub of ["promote", "abort", "status"]) {
      const r = await refusal("canary", sub, "iris")
      expect(r.code).toBe(1)
      expect(r.lines).toEqual([expect.stringMatching(/^modelbus: NoCanary: /)])
    }
    expect((await stack.client.modelHistory("iris")).map((v) => v.version)).toEqual([1])
    expect((await stack.client.infer("iris", [SETOSA])).version).toBe(1)
  })

  it("gives the candidate 10 % of 10,000 requests (inside the binomial 99.9 % interval), raw JSON callers included; status and /metrics count each version", async () => {
    const started = await cli("canary", "iris", "--path", scaled, "--percent", "10", "--json")
    expect(started.code).toBe(0)
    const rollout = json<CanaryRollout>(started.output)
    expect(rollout.acked).toHaveLength(2)
    expect(rollout.canary).toMatchObject({ stable: 1, percent: 10, phase: "running", candidate: { version: 2 } })

    const n = 10_000
    const counts = await versionCounts(n)
    const candidate = counts.get(2) ?? 0
    // normal approximation of Binomial(10000, 0.1): mean 1000, sd 30; 99.9 % two-sided is ±3.29 sd
    const sd = Math.sqrt(n * 0.1 * 0.9)
    console.log(
      `candidate answered ${candidate} of ${n} requests at --percent 10 (99.9 % interval ${Math.ceil(1000 - 3.29 * sd)}..${Math.floor(1000 + 3.29 * sd)})`
    )
    expect(counts.get(1)! + candidate).toBe(n)
    expect(candidate).toBeGreaterThanOrEqual(Math.ceil(1000 - 3.29 * sd))
    expect(candidate).toBeLessThanOrEqual(Math.floor(1000 + 3.29 * sd))

    // a plain NATS client sending JSON gets the split too
    const raw = new Map<number, number>()
    for (let i = 0; i < 300; i++) {
      const reply = await rawInfer(rows[i % rows.length]!, { json: true })
      raw.set(reply.version, (raw.get(reply.version) ?? 0) + 1)
    }
    expect([...raw.keys()].sort()).toEqual([1, 2])

    const status = await cli("canary", "status", "iris", "--json")
    expect(status.code).toBe(0)
    const report = json<CanaryReport>(status.output)
    expect(report.replicas).toHaveLength(2)
    expect(report.candidate.requests).toBe(candidate + raw.get(2)!)
    expect(report.stable.requests).toBe(counts.get(1)! + raw.get(1)!)
    expect(report.candidate.errors).toBe(0)
    expect(report.candidate.p99Ms).toBeGreaterThan(0)
    const text = await cli("canary", "status", "iris")
    expect(text.output).toMatch(/v2 candidate\s+\d+\s+0\s+[\d.]+\s+[\d.]+/)

    const total = candidate + raw.get(2)!
    await eventually(
      async () =>
        sampleValue(await scrape(), "modelbus_requests_total", {
          model: "iris",
          version: "candidate",
          outcome: "ok"
        }) === total || undefined,
      10_000,
      "/metrics to count the candidate's requests"
    )
    const metrics = await scrape()
    expect(
      sampleValue(metrics, "modelbus_requests_total", { model: "iris", version: "stable", outcome: "ok" })
    ).toBeGreaterThanOrEqual(counts.get(1)! + raw.get(1)!)
    expect(
      sampleValue(metrics, "modelbus_request_duration_seconds_count", { model: "iris", version: "candidate" })
    ).toBe(total)

    const again = await refusal("canary", "iris", "--path", scaled, "--percent", "5")
    expect(again.code).toBe(1)
    expect(again.lines.at(-1)).toMatch(/^modelbus: CanaryRunning: iris has a canary running already \(v2 beside v1\)/)
    expect((await refusal("update", "iris", "--path", scaled)).lines.at(-1)).toMatch(/^modelbus: CanaryRunning: /)

    const aborted = await cli("canary", "abort", "iris", "--json")
    expect(aborted.code).toBe(0)
    expect(json<CanaryRollout>(aborted.output).acked).toHaveLength(2)
    expect((await versionCounts(200)).get(2)).toBeUndefined()
  })

  it("lets one of two operators start a canary; with a sticky header no key ever sees two versions", async () => {
    const args = ["canary", "iris", "--path", scaled, "--percent", "30", "--sticky-key", "header:user"]
    const both = await Promise.all([cli(...args), cli(...args)])
    expect(both.map((r) => r.code).sort()).toEqual([0, 1])
    expect(
      both
        .find((r) => r.code === 1)!
        .output.trim()
        .split("\n")
        .at(-1)
    ).toMatch(/^modelbus: CanaryRunning: /)

    const seen = new Map<string, Set<number>>()
    for (let round = 0; round < 5; round++) {
      await Promise.all(
        Array.from({ length: 200 }, async (_, k) => {
          const user = `user-${k}`
          const reply = await rawInfer(rows[(k + round) % rows.length]!, { user })
          seen.set(user, (seen.get(user) ?? new Set()).add(reply.version))
        })
      )
    }
    const twoVersions = [...seen.values()].filter((v) => v.size > 1).length
    const onCandidate = [...seen.values()].filter((v) => v.has(2)).length
    // Binomial(200, 0.3): mean 60, sd 6.5; 99.9 % is ±21
    console.log(
      `sticky split: ${onCandidate} of 200 keys on the candidate at --percent 30; keys that saw two versions: ${twoVersions}`
    )
    expect(twoVersions).toBe(0)
    expect(onCandidate).toBeGreaterThanOrEqual(39)
    expect(onCandidate).toBeLessThanOrEqual(81)
    // a request without the key is the stable version's
    const keyless = await Promise.all(Array.from({ length: 50 }, () => rawInfer(SETOSA)))
    expect(new Set(keyless.map((r) => r.version))).toEqual(new Set([1]))
    expect((await cli("canary", "abort", "iris")).code).toBe(0)
  })

  it("aborts a class-permuted candidate under --shadow 100 by itself, at exactly min-samples comparisons, with 0 failed requests", async () => {
    const permuted = await permutedIris()
    const events: Array<LifecycleEvent> = []
    let aborted: (event: LifecycleEvent) => void = () => {}
    const abortedEvent = new Promise<LifecycleEvent>((resolve) => (aborted = resolve))
    const stop = await stack.client.onEvents((e) => {
      events.push(e)
      if (e.type === "canaryAborted") aborted(e)
    }, "iris")
    const sample = rows.slice(0, 30)
    const load = startLoad(stack.client, "iris", sample, await expectedAnswers(stack.client, "iris", sample), 8)
    const t0 = performance.now()
    let event: LifecycleEvent
    let elapsed: number
    try {
      const started = await cli(
        "canary",
        "iris",
        "--path",
        permuted,
        "--percent",
        "0",
        "--shadow",
        "100",
        "--guard",
        "min-agreement=0.9,min-samples=20,window=60s"
      )
      expect(started.code).toBe(0)
      event = await abortedEvent
      elapsed = performance.now() - t0
    } finally {
      await load.stop()
      stop()
    }
    const summary = load.summary
    console.log(
      `permuted candidate aborted by ${event.actor} ${elapsed.toFixed(0)} ms after the canary command started (${summary.requests} requests answered meanwhile): ${event.reason}`
    )
    expect(summary.failures).toEqual([])
    expect(summary.wrongAnswers).toBe(0)
    expect(event).toMatchObject({
      type: "canaryAborted",
      model: "iris",
      threshold: "min-agreement",
      figures: { samples: 20, agreements: 0, agreement: 0, limit: 0.9, windowMs: 60_000 }
    })
    expect(event.reason).toMatch(
      /^min-agreement: the candidate agreed with the stable version on 0 of 20 shadowed requests/
    )
    expect(events.filter((e) => e.type === "canaryAborted")).toHaveLength(1)

    const report = json<CanaryReport>((await cli("canary", "status", "iris", "--json")).output)
    expect(report.canary).toMatchObject({ phase: "aborted", endedBy: event.actor, threshold: "min-agreement" })
    expect(report.canary.reason).toBe(event.reason)
    expect(report.shadow.agreement).toBe(0)
    expect(report.shadow.samples).toBeGreaterThanOrEqual(20)
    const promote = await refusal("canary", "promote", "iris")
    expect(promote.lines).toEqual([
      expect.stringMatching(/^modelbus: NoCanary: no canary is running on iris; the last one \(v2\) was aborted/)
    ])
  })

  it("promotes a good candidate under load with 0 failed requests, without loading it again", async () => {
    const prior = await actors()
    const started = await cli("canary", "iris", "--path", scaled, "--percent", "50", "--shadow", "50")
    expect(started.code).toBe(0)
    // each replica loaded the candidate once (its heartbeat says so a moment after its ack)
    const before = await eventually(
      async () => {
        const now = await actors()
        return now.every((a, i) => a.loads === prior[i]!.loads + 1) ? now : undefined
      },
      10_000,
      "both replicas to report the candidate's load"
    )
    const load = startLoad(
      stack.client,
      "iris",
      rows.slice(0, 30),
      rows.slice(0, 30).map(() => []),
      8
    )
    let promoted: Awaited<ReturnType<typeof cli>>
    try {
      await eventually(async () => (load.summary.requests > 200 ? true : undefined), 30_000, "some load")
      promoted = await cli("canary", "promote", "iris", "--json")
    } finally {
      await load.stop()
    }
    const summary = load.summary
    expect(promoted.code).toBe(0)
    const result = json<PromoteResult>(promoted.output)
    expect(result).toMatchObject({ model: "iris", version: 2, canary: { phase: "promoted" } })
    expect(result.acked).toHaveLength(2)
    expect(summary.failures).toEqual([])
    const answers = await versionCounts(200)
    expect([...answers.keys()]).toEqual([2])
    const history = await stack.client.modelHistory("iris")
    expect(history.map((v) => [v.version, v.source])).toEqual([
      [1, `path:${IRIS_MODEL}`],
      [2, `path:${scaled}`]
    ])
    // the heartbeat after the swap carries the version and the loads together
    const after = await eventually(
      async () => {
        const now = await actors()
        return now.every((a) => a.version === 2) ? now : undefined
      },
      10_000,
      "both replicas to report v2"
    )
    expect(after.map((a) => a.loads)).toEqual(before.map((a) => a.loads))
    const reply = await stack.client.infer("iris", [SETOSA])
    expect((reply.outputs as HostTensor).data.length).toBe(3)
  })

  it("brings a replica SIGKILLed during a canary back serving the same split: every key on the version it had", async () => {
    // v1 (kept) is now the candidate beside v2
    const started = await cli("canary", "iris", "--version", "1", "--percent", "50", "--sticky-key", "header:user")
    expect(started.code).toBe(0)
    const keys = Array.from({ length: 100 }, (_, k) => `key-${k}`)
    const before = new Map<string, number>()
    for (const user of keys) before.set(user, (await rawInfer(SETOSA, { user })).version)
    expect(new Set(before.values())).toEqual(new Set([1, 2]))

    const [victim] = await actors()
    process.kill(victim!.pid!, "SIGKILL")
    await eventually(
      async () => {
        const slot = (await actors()).find((a) => a.id === victim!.id)
        return slot?.state === "serving" && slot.pid !== victim!.pid ? slot : undefined
      },
      30_000,
      "the killed replica to serve again"
    )
    const fromRestarted = new Map<string, number>()
    for (let round = 0; round < 6; round++) {
      for (const user of keys) {
        const reply = await rawInfer(SETOSA, { user })
        expect(reply.version, user).toBe(before.get(user))
        if (reply.actor === victim!.id) fromRestarted.set(user, reply.version)
      }
    }
    console.log(`the restarted replica answered ${fromRestarted.size} of 100 keys, each on its version from before`)
    expect(new Set(fromRestarted.values())).toEqual(new Set([1, 2]))
    await abortIfRunning()
  })
})

describe("the Promise client", () => {
  it("starts, reports and aborts a canary, and rejects with NoCanary when none runs", async () => {
    const { client } = stack
    const stable = (await client.infer("iris", [SETOSA], { hedge: false })).version
    const started = await client.startCanary("iris", { path: scaled }, { percent: 50 })
    expect(started.pending).toEqual([])
    expect(started.acked.length).toBe((await actors()).length)
    const candidate = started.canary.candidate.version
    expect(candidate).toBeGreaterThan(stable)
    const seen = await versionCounts(200)
    expect([...seen.keys()].sort()).toEqual([stable, candidate])
    const report = await client.canaryStatus("iris")
    expect([report.stable.version, report.candidate.version]).toEqual([stable, candidate])
    expect(report.stable.requests + report.candidate.requests).toBeGreaterThanOrEqual(200)
    const aborted = await client.abortCanary("iris")
    expect(aborted.canary.phase).toBe("aborted")
    expect((await versionCounts(50)).get(stable)).toBe(50)
    await expect(client.promoteCanary("iris")).rejects.toMatchObject({ _tag: "NoCanary" })
  })
})
