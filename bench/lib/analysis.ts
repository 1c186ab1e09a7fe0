// "Where the time goes", computed from one run: per model, modelbus's CPU per request split by
// process, beside the model's own cost, each half of modelbus alone, and a bare NATS round trip.
import { costPerRequest } from "./report.js"
import { type Row, Section } from "./rows.js"

const f = (n: number, d = 0) => (Number.isFinite(n) ? n.toFixed(d) : "–")
const rate = (n: number) => Math.round(n).toLocaleString("en-US")

const pick = (rows: ReadonlyArray<Row>, section: string, model: string, c: number, scenario?: string) =>
  rows
    .filter(
      (r) =>
        r.section === section &&
        r.model === model &&
        r.concurrency === c &&
        (scenario === undefined || r.scenario.includes(scenario))
    )
    .sort((a, b) => b.summary.perSecond - a.summary.perSecond)[0]

export const analyse = (rows: ReadonlyArray<Row>, cores: number): string => {
  const lines: Array<string> = ["## Where the time goes (computed from this run)", ""]
  for (const model of [...new Set(rows.map((r) => r.model))]) {
    const mb = pick(rows, Section.modelbus, model, 64)
    if (mb === undefined) continue
    const mb1 = pick(rows, Section.modelbus, model, 1)
    const single = pick(rows, Section.ceiling, model, 1)
    const ceiling = rows
      .filter((r) => r.section === Section.ceiling && r.model === model && r.concurrency > 1)
      .sort((a, b) => b.summary.perSecond - a.summary.perSecond)[0]
    const actorsAlone = rows.filter(
      (r) =>
        r.section === Section.diagnostic && r.model === model && r.concurrency === 64 && r.scenario.startsWith("actors")
    )
    const clientAlone = pick(rows, Section.diagnostic, model, 64, "canned")
    const echo = pick(rows, Section.messaging, model, 64, "muxed")
    const echo1 = pick(rows, Section.messaging, model, 1, "muxed")
    const request = pick(rows, Section.messaging, model, 64, "request()")
    const c = costPerRequest(mb)
    const coresUsed = mb.processes.reduce((a, p) => a + p.cpuSeconds, 0) / mb.summary.seconds
    const parts: Array<string> = [
      `- **${model}**, ${mb.scenario}, c=64: ${rate(mb.summary.perSecond)} req/s using ${f(coresUsed, 2)} of ${cores} cores; a request costs ${f(c.total)} µs of CPU: client ${f(c.client)}, actors ${f(c.servers)}, nats-server ${f(c.nats)}, supervisor ${f(c.supervisor, 1)}.`
    ]
    if (single !== undefined) {
      parts.push(
        `  The model alone: ${f(costPerRequest(single).servers)} µs of CPU per single-sample predict in-process (p50 ${f(single.summary.p50Ms * 1000)} µs)` +
          (ceiling === undefined
            ? "."
            : `, ${f(costPerRequest(ceiling).servers, 1)} µs per sample at batch ${ceiling.batch} (${rate(ceiling.summary.perSecond)} samples/s on ${ceiling.concurrency} processes).`)
      )
    }
    for (const alone of actorsAlone) {
      const a = costPerRequest(alone)
      parts.push(
        `  The ${alone.scenario.replace(/ ←.*/, "")} alone (muxed raw client, c=64): ${rate(alone.summary.perSecond)} req/s at ${f(a.servers)} µs of actor CPU and ${f(a.nats)} µs of nats-server CPU per request` +
          (single === undefined ? "." : `; one predict's p50 is ${f(single.summary.p50Ms * 1000)} µs.`)
      )
    }
    if (clientAlone !== undefined) {
      const k = costPerRequest(clientAlone)
      parts.push(
        `  The modelbus client alone (canned replies, c=64): ${rate(clientAlone.summary.perSecond)} req/s at ${f(k.client)} µs of client CPU per request` +
          (echo === undefined
            ? "."
            : `, against ${f(costPerRequest(echo).client)} µs for the bench's muxed client on the same payload (${rate(echo.summary.perSecond)} req/s echo).`)
      )
    }
    if (request !== undefined)
      parts.push(
        `  nats.js request() alone (echo, c=64): ${rate(request.summary.perSecond)} req/s at ${f(costPerRequest(request).client)} µs of client CPU per call.`
      )
    if (mb1 !== undefined && echo1 !== undefined && single !== undefined) {
      const extra = mb1.summary.p50Ms - echo1.summary.p50Ms - single.summary.p50Ms
      parts.push(
        `  At c=1 modelbus's p50 is ${f(mb1.summary.p50Ms * 1000)} µs = NATS round trip ${f(echo1.summary.p50Ms * 1000)} µs + model ${f(single.summary.p50Ms * 1000)} µs + ${f(extra * 1000)} µs of modelbus's own.`
      )
    }
    lines.push(parts.join("\n"), "")
  }
  return lines.join("\n")
}
