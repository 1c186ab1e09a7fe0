// "Where the time goes", computed from one run: per model, modelbus's CPU per request split by
// process beside the model's own cost (in-process) and the transport's (muxed echo), and core use.
import { costPerRequest } from "./report.js"
import { type Row, Section } from "./rows.js"

const f = (n: number, d = 0) => (Number.isFinite(n) ? n.toFixed(d) : "–")

export const analyse = (rows: ReadonlyArray<Row>, cores: number): string => {
  const lines: Array<string> = ["## Where the time goes (computed from this run)", ""]
  for (const model of [...new Set(rows.map((r) => r.model))]) {
    const mb = rows.filter((r) => r.section === Section.modelbus && r.model === model && r.concurrency === 64).sort((a, b) => b.summary.perSecond - a.summary.perSecond)[0]
    const single = rows.find((r) => r.section === Section.ceiling && r.model === model && r.concurrency === 1)
    const ceiling = rows.filter((r) => r.section === Section.ceiling && r.model === model && r.concurrency > 1).sort((a, b) => b.summary.perSecond - a.summary.perSecond)[0]
    const echo = rows.find((r) => r.section === Section.messaging && r.model === model && r.concurrency === 64 && r.scenario.includes("muxed"))
    const request = rows.find((r) => r.section === Section.messaging && r.model === model && r.concurrency === 64 && r.scenario.includes("request()"))
    if (mb === undefined) continue
    const c = costPerRequest(mb)
    const window = mb.summary.seconds
    const coresUsed = mb.processes.reduce((a, p) => a + p.cpuSeconds, 0) / window
    const actorCores = mb.processes.filter((p) => /^[A-Za-z0-9_-]+-\d+$/.test(p.role)).map((p) => f(p.cpuSeconds / window, 2)).join(" + ")
    const parts = [
      `**${model}**, ${mb.scenario} at c=64: ${f(mb.summary.perSecond)} req/s, p50 ${f(mb.summary.p50Ms, 2)} ms, p99 ${f(mb.summary.p99Ms, 2)} ms.`,
      `The processes used ${f(coresUsed, 2)} of ${cores} cores (actors ${actorCores}); one request costs ${f(c.total)} µs of CPU in all: client ${f(c.client)}, actors ${f(c.servers)}, supervisor ${f(c.supervisor, 1)}, nats-server ${f(c.nats)}.`
    ]
    if (single !== undefined) {
      const model1 = costPerRequest(single)
      parts.push(`The model itself costs ${f(model1.servers)} µs of CPU per single-sample predict in-process (p50 ${f(single.summary.p50Ms * 1000)} µs wall), so about ${f(c.servers - model1.servers)} µs per request in the actor is not the model (NATS client, decode, checks, encode, the per-request promise path).`)
    }
    if (ceiling !== undefined) {
      const ceil = costPerRequest(ceiling)
      parts.push(`At its best batch (${ceiling.batch}) the model costs ${f(ceil.servers, 1)} µs per sample (${f(ceiling.summary.perSecond)} samples/s on ${ceiling.concurrency} processes): batching would remove most of the per-sample model cost.`)
    }
    if (echo !== undefined) {
      const e = costPerRequest(echo)
      parts.push(`A bare NATS round trip of the same payload (muxed echo, c=64) costs ${f(e.total)} µs in all (client ${f(e.client)}, echo ${f(e.servers)}, nats-server ${f(e.nats)}), so the modelbus client spends ${f(c.client - e.client)} µs more than a muxed client per request.`)
    }
    if (request !== undefined) {
      const q = costPerRequest(request)
      parts.push(`nats.js request() per call costs its client ${f(q.client)} µs (${f(request.summary.perSecond)} req/s against an echo).`)
    }
    lines.push(parts.join(" "), "")
  }
  return lines.join("\n")
}
