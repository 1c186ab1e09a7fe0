// The supervisor's HTTP endpoints on its metrics port (Effect's Node HTTP server): /metrics in the
// Prometheus text format, /healthz (200 while the process runs) and /readyz (503 naming unready models).
import { createServer } from "node:http"
import { NodeHttpServer } from "@effect/platform-node"
import { Effect, type Scope } from "effect"
import { HttpServerRequest, HttpServerResponse } from "effect/http"
import type { SupervisorStatus } from "../../protocol/messages.js"
import { MetricsUnavailable } from "../errors.js"
import { readinessOf, readinessText } from "./health.js"

const PROMETHEUS_TEXT = "text/plain; version=0.0.4; charset=utf-8"
const TEXT = "text/plain; charset=utf-8"

export interface ObservabilitySources {
  readonly status: () => SupervisorStatus
  readonly models: ReadonlyArray<string>
  /** The Prometheus text of the supervisor now. */
  readonly metrics: () => string
}

const respond = (sources: ObservabilitySources, path: string): HttpServerResponse.HttpServerResponse => {
  switch (path) {
    case "/metrics":
      return HttpServerResponse.text(sources.metrics(), { contentType: PROMETHEUS_TEXT })
    case "/healthz":
      return HttpServerResponse.text("ok\n", { contentType: TEXT })
    case "/readyz": {
      const readiness = readinessOf(sources.status(), sources.models)
      return HttpServerResponse.text(readinessText(readiness), {
        status: readiness.ready ? 200 : 503,
        contentType: TEXT
      })
    }
    default:
      return HttpServerResponse.text("not found: try /metrics, /healthz or /readyz\n", {
        status: 404,
        contentType: TEXT
      })
  }
}

/** Serves the endpoints on `port` (0: a free one) of every interface until the scope closes; the port it got. */
export const serveObservability = (
  port: number,
  sources: ObservabilitySources
): Effect.Effect<number, MetricsUnavailable, Scope.Scope> =>
  Effect.gen(function* () {
    const server = yield* NodeHttpServer.make(() => createServer(), { port }).pipe(
      Effect.mapError(
        (error) =>
          new MetricsUnavailable({
            port,
            message: `cannot serve metrics on port ${port}: ${error.cause instanceof Error ? error.cause.message : String(error.cause)}`
          })
      )
    )
    yield* server.serve(
      Effect.gen(function* () {
        const request = yield* HttpServerRequest.HttpServerRequest
        return respond(sources, new URL(request.url, "http://localhost").pathname)
      })
    )
    return server.address._tag === "UnixPathAddress" ? port : server.address.port
  })
