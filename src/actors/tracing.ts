// Traces in an actor: the W3C `traceparent` a request carries, the spans of its request (server span,
// queue wait, compute) made once it is answered, and the OTLP/HTTP exporter the standard env turns on.
import type { Msg } from "@nats-io/transport-node"
import { ConfigProvider, Context, Effect, Exit, Layer, Option, type Scope, Tracer } from "effect"
import type { ServiceError } from "../protocol/errors.js"

export const TRACEPARENT_HEADER = "traceparent"

const traceparentPattern = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/

/** The sampled trace context of a message, if it carries one (an unsampled or malformed one is ignored). */
export const traceOf = (msg: Msg): Tracer.ExternalSpan | undefined => {
  const value = msg.headers?.get(TRACEPARENT_HEADER)
  if (!value) return undefined
  const match = traceparentPattern.exec(value)
  if (match === null) return undefined
  const [, traceId, spanId, flags] = match
  if ((Number.parseInt(flags!, 16) & 1) === 0 || /^0+$/.test(traceId!) || /^0+$/.test(spanId!)) return undefined
  return Tracer.externalSpan({ traceId: traceId!, spanId: spanId!, sampled: true })
}

/** When one traced request ran, in performance.now() ms; compute is NaN when it never ran. */
export interface RequestTimes {
  readonly arrived: number
  readonly started: number
  readonly computeStart: number
  readonly computeEnd: number
  readonly answered: number
}

const epochNanosAtZero = BigInt(Math.round(performance.timeOrigin * 1_000)) * 1_000n
const nanos = (ms: number): bigint => epochNanosAtZero + BigInt(Math.round(ms * 1_000_000))

const span = (
  tracer: Tracer.Tracer,
  name: string,
  parent: Tracer.AnySpan,
  kind: Tracer.SpanKind,
  from: number,
  attributes: Record<string, unknown>
): Tracer.Span => {
  const s = tracer.span({
    name,
    parent: Option.some(parent),
    annotations: parent.annotations,
    links: [],
    startTime: nanos(from),
    kind,
    root: false,
    sampled: true
  })
  for (const key in attributes) s.attribute(key, attributes[key])
  return s
}

/** Records the spans of one answered request under the trace it carried. */
export const recordRequestSpans = (
  tracer: Tracer.Tracer,
  trace: Tracer.ExternalSpan,
  about: { readonly model: string; readonly actor: string; readonly batchSize: number },
  times: RequestTimes,
  failure: ServiceError | undefined
): void => {
  const exit = failure === undefined ? Exit.void : Exit.fail(failure)
  const attributes = { "modelbus.model": about.model, "modelbus.actor": about.actor }
  const request = span(tracer, `infer ${about.model}`, trace, "server", times.arrived, attributes)
  span(tracer, "queue wait", request, "internal", times.arrived, attributes).end(nanos(times.started), Exit.void)
  if (!Number.isNaN(times.computeStart)) {
    span(tracer, "compute", request, "internal", times.computeStart, {
      ...attributes,
      "modelbus.batch_size": about.batchSize
    }).end(nanos(times.computeEnd), failure?._tag === "InferenceFailed" ? exit : Exit.void)
  }
  request.end(nanos(times.answered), exit)
}

/** The standard OpenTelemetry variables that turn OTLP trace export on. */
const endpointVariables = ["OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"] as const

/**
 * The tracer of this actor when `OTEL_EXPORTER_OTLP_ENDPOINT` (or `…_TRACES_ENDPOINT`) is set: Effect's
 * OTLP/HTTP JSON exporter configured from the standard OTEL_* variables (OTEL_SERVICE_NAME default
 * "modelbus"), flushed when the scope closes; undefined otherwise, and then nothing is loaded.
 */
export const otlpTracer = (env: NodeJS.ProcessEnv): Effect.Effect<Tracer.Tracer | undefined, never, Scope.Scope> =>
  Effect.gen(function* () {
    if (!endpointVariables.some((name) => (env[name] ?? "") !== "")) return undefined
    const [{ OtlpSerialization, OtlpTracer }, { FetchHttpClient }] = yield* Effect.promise(() =>
      Promise.all([import("effect/observability"), import("effect/http")])
    )
    // Effect exports only when OTEL_TRACES_EXPORTER names otlp; the OpenTelemetry default is otlp.
    const provider = ConfigProvider.fromEnvRecord({
      OTEL_TRACES_EXPORTER: "otlp",
      OTEL_SERVICE_NAME: "modelbus",
      ...env
    })
    const layer = OtlpTracer.layerFromConfig().pipe(
      Layer.provide(OtlpSerialization.layerJson),
      Layer.provide(FetchHttpClient.layer),
      Layer.provide(ConfigProvider.layer(provider))
    )
    const context = yield* Layer.build(layer)
    return Context.get(context, Tracer.Tracer)
  })
