// The reference scenarios around modelbus: the raw NATS echo (muxed inbox and nats.js request()),
// the load-per-request anti-pattern, and the Moleculer peer (JSON and binary serializers).
import { type BenchContext, driverRows } from "./bench.js"
import { DriverKind } from "./driverSetup.js"
import type { BenchModel } from "./models.js"
import { dist } from "./paths.js"
import { type Row, Section } from "./rows.js"
import {
  echoSubject,
  loadPerRequestSubject,
  startCanned,
  startEcho,
  startLoadPerRequest,
  startMoleculer
} from "./servers.js"

export const runEcho = async (ctx: BenchContext, model: BenchModel, processes: number): Promise<Array<Row>> => {
  const group = await startEcho(ctx.natsUrl, model.name, processes)
  try {
    const common = {
      section: Section.messaging,
      model: model.name,
      servers: group.watched,
      concurrencies: ctx.timing.echoConcurrency,
      durationMs: ctx.timing.echoMs
    }
    return [
      ...(await driverRows(ctx, {
        ...common,
        scenario: "NATS echo, muxed inbox",
        setup: { kind: DriverKind.muxed, subject: echoSubject(model.name), timeoutMs: 10_000 }
      })),
      ...(await driverRows(ctx, {
        ...common,
        scenario: "NATS echo, nats.js request()",
        setup: { kind: DriverKind.request, subject: echoSubject(model.name), timeoutMs: 10_000 }
      }))
    ]
  } finally {
    await group.stop()
  }
}

/** The modelbus client alone: its real subject, answered by responders that send one canned reply. */
export const runClientAlone = async (ctx: BenchContext, model: BenchModel, processes: number): Promise<Array<Row>> => {
  // A prefix no supervisor serves, so only the canned responders answer.
  const { subjects } = await dist.subjects()
  const group = await startCanned(ctx.natsUrl, model.name, subjects("bench-canned").infer(model.name), processes)
  try {
    return await driverRows(ctx, {
      section: Section.diagnostic,
      scenario: "modelbus client → canned reply",
      model: model.name,
      setup: { kind: DriverKind.modelbus, prefix: "bench-canned", timeoutMs: 30_000 },
      servers: group.watched,
      concurrencies: ctx.timing.diagnosticConcurrency,
      durationMs: ctx.timing.echoMs,
      note: "the modelbus client against responders that answer every request with one pre-encoded reply: the client's own cost"
    })
  } finally {
    await group.stop()
  }
}

export const runLoadPerRequest = async (
  ctx: BenchContext,
  model: BenchModel,
  processes: number
): Promise<Array<Row>> => {
  const group = await startLoadPerRequest(ctx.natsUrl, model.name, processes)
  try {
    return await driverRows(ctx, {
      section: Section.antiPattern,
      scenario: "load model per request",
      model: model.name,
      setup: { kind: DriverKind.muxed, subject: loadPerRequestSubject(model.name), timeoutMs: 30_000 },
      servers: group.watched,
      concurrencies: ctx.timing.antiConcurrency,
      durationMs: ctx.timing.antiMs,
      note: "a NATS responder per replica that loads the model folder, predicts and disposes for every request"
    })
  } finally {
    await group.stop()
  }
}

export const runMoleculer = async (ctx: BenchContext, model: BenchModel, processes: number): Promise<Array<Row>> => {
  const rows: Array<Row> = []
  for (const serializer of ["json", "msgpack"] as const) {
    const group = await startMoleculer(ctx.natsUrl, model.name, processes, serializer)
    try {
      rows.push(
        ...(await driverRows(ctx, {
          section: Section.peer,
          scenario: serializer === "json" ? "Moleculer 0.14, JSON" : "Moleculer 0.14, msgpackr",
          model: model.name,
          setup: {
            kind: serializer === "json" ? DriverKind.moleculerJson : DriverKind.moleculerMsgpack,
            workers: processes,
            timeoutMs: 30_000
          },
          servers: group.watched,
          concurrencies: ctx.timing.peerConcurrency,
          durationMs: ctx.timing.peerMs,
          note:
            serializer === "json"
              ? "Moleculer's default JSON serializer, tensor data as a number array"
              : "a msgpackr serializer (built like Moleculer's cbor-x one), tensor data as raw bytes"
        }))
      )
    } finally {
      await group.stop()
    }
  }
  return rows
}
