// The `fit` responder of an actor: one replica per request (queue group) trains a copy of the serving
// Layers model on the caller's data, reports each epoch if asked, and publishes it as the next version.
import type { Msg, NatsConnection } from "@nats-io/transport-node"
import { Cause, Effect, FiberSet, type Scope } from "effect"
import type { TensorSpec } from "../model/specs.js"
import { type OnEpoch, trainCopy } from "../model/training.js"
import { type Encoding, encodingOfMessage, parseBody, readTensor, serialize } from "../protocol/codec.js"
import { BadInput } from "../protocol/errors.js"
import { decodeFitRequest, type FitProgress, type FitReply, type FitRequest } from "../protocol/fit.js"
import type { ActorSettings } from "../protocol/ipc.js"
import { flattenNested } from "../protocol/nested.js"
import { subjects } from "../protocol/subjects.js"
import { fromNumbers, type HostTensor } from "../protocol/tensor.js"
import { isRecord, messageOf } from "../protocol/values.js"
import { type FitError, FitFailed, fitErrorBody, NotSupported } from "../registry/errors.js"
import { publishVersion } from "../registry/publish.js"
import type { Registry } from "../registry/Registry.js"
import type { ServingModel } from "./servingModel.js"

/** A tensor from a `{dtype, shape, data}` object or nested arrays (of `dtype`). */
const tensorFrom = (raw: unknown, name: string, dtype: TensorSpec["dtype"]): HostTensor | BadInput => {
  if (isRecord(raw)) return readTensor(raw, name)
  const flat = flattenNested(raw)
  if (!flat.ok) return new BadInput({ message: `${name}: ${flat.reason}` })
  return { dtype, shape: flat.shape, data: fromNumbers(dtype, flat.values) }
}

/** The fit request in a message body, or BadInput saying what was expected and what arrived. */
const readFitRequest = (msg: Msg, encoding: Encoding): FitRequest | BadInput => {
  const parsed = parseBody(msg.data, encoding)
  return parsed.ok ? decodeFitRequest(parsed.value) : new BadInput({ message: `fit request: ${parsed.reason}` })
}

/** Publishes each epoch as a FitProgress when the request asked for it (best effort: a lost one is not resent). */
const epochReporter = (nc: NatsConnection, settings: ActorSettings, progress: string | undefined): OnEpoch => {
  if (progress === undefined) return () => {}
  const subject = subjects(settings.prefix).fitProgress(settings.model, progress)
  return (epoch, epochs, loss) => {
    const body: FitProgress = { epoch, epochs, loss, actor: settings.id }
    try {
      nc.publish(subject, JSON.stringify(body))
    } catch {
      // a closed connection: the final reply fails the same way
    }
  }
}

/** The request's `x` and `y`, or those of the msgpack body `{x, y}` its `data` names in the Object Store. */
const trainingData = (registry: Registry, request: FitRequest) =>
  Effect.gen(function* () {
    if (request.data === undefined) {
      if (request.x === undefined || request.y === undefined)
        return yield* new BadInput({ message: "fit request: expected x and y, or data naming an object holding them" })
      return { x: request.x, y: request.y }
    }
    const name = request.data
    const bytes = yield* registry
      .fetchFitData(name)
      .pipe(Effect.mapError((e) => new FitFailed({ message: `could not read the training data: ${e.message}` })))
    if (bytes === null) return yield* new BadInput({ message: `fit request: no training data object ${name}` })
    const parsed = parseBody(bytes, "msgpack")
    const body = parsed.ok && isRecord(parsed.value) ? parsed.value : undefined
    if (body === undefined || body.x === undefined || body.y === undefined)
      return yield* new BadInput({ message: `fit request: training data ${name} is not a msgpack body {x, y}` })
    return { x: body.x, y: body.y }
  })

/** Training stays with TensorFlow.js: an ONNX model is trained where it was made, then exported and pushed. */
const onnxRefusal = (model: string, version: number) =>
  new NotSupported({
    message: `${model} v${version} is an ONNX model; fit trains TF.js Layers models only (train it where it was made, export it to ONNX and update with --path)`,
    model
  })

const train = Effect.fnUntraced(function* (
  registry: Registry,
  serving: ServingModel,
  settings: ActorSettings,
  request: FitRequest,
  onEpoch: OnEpoch
): Effect.fn.Return<FitReply, FitError> {
  if (serving.current.model.signature.format === "onnx") {
    return yield* onnxRefusal(settings.model, serving.current.version)
  }
  const input = serving.current.model.signature.inputs[0]
  if (serving.current.model.signature.inputs.length !== 1 || input === undefined) {
    return yield* new BadInput({ message: "fit supports models with one input" })
  }
  const data = yield* trainingData(registry, request)
  const x = tensorFrom(data.x, "x", input.dtype)
  if (x instanceof BadInput) return yield* x
  const y = tensorFrom(data.y, "y", "float32")
  if (y instanceof BadInput) return yield* y
  const current = yield* registry.current(settings.model)
  if (current === undefined)
    return yield* new BadInput({ message: `${settings.model} has no version in the registry yet` })
  if (current.entry.format === "onnx") return yield* onnxRefusal(settings.model, current.entry.version)
  const files = yield* registry.fetchArtifacts(settings.model, current.entry)
  const { x: _x, y: _y, data: _data, progress: _progress, ...options } = request
  const trained = yield* trainCopy(files, x, y, options, onEpoch)
  const entry = yield* publishVersion(registry, settings.model, trained.files, {
    source: `fit:${settings.id} from v${current.entry.version}`
  }).pipe(Effect.catchTag("BackendUnavailable", (e) => Effect.fail(new FitFailed({ message: e.message }))))
  return { version: entry.version, loss: trained.loss, actor: settings.id }
})

/** The typed error a failed fit answers with; anything unexpected (a defect) becomes FitFailed. */
const fitErrorOf = (cause: Cause.Cause<FitError>, actor: string): FitError => {
  const error = Cause.findErrorOption(cause)
  if (error._tag === "Some") return error.value
  return new FitFailed({ message: `${actor} could not train: ${messageOf(Cause.squash(cause))}` })
}

/** Answers one fit request: the reply, or the typed error; never fails, never throws. */
const answerOne = (
  nc: NatsConnection,
  msg: Msg,
  registry: Registry,
  serving: ServingModel,
  settings: ActorSettings
) => {
  const encoding = encodingOfMessage(msg)
  return Effect.suspend(() => {
    const request = readFitRequest(msg, encoding)
    if (request instanceof BadInput) return Effect.fail(request)
    return train(registry, serving, settings, request, epochReporter(nc, settings, request.progress))
  }).pipe(
    Effect.map((reply): unknown => reply),
    Effect.catchCause((cause) =>
      Cause.hasInterruptsOnly(cause)
        ? Effect.failCause(cause)
        : Effect.succeed(fitErrorBody(fitErrorOf(cause, settings.id)))
    ),
    Effect.flatMap((body) => Effect.try(() => msg.respond(serialize(body, encoding)))),
    Effect.ignore
  )
}

/** Answers fit requests for as long as the scope is open; a training still running when it closes is interrupted. */
export const answerFit = Effect.fnUntraced(function* (
  nc: NatsConnection,
  registry: Registry,
  serving: ServingModel,
  settings: ActorSettings
): Effect.fn.Return<void, never, Scope.Scope> {
  const run = yield* FiberSet.makeRuntime<never, void, never>()
  const subject = subjects(settings.prefix).fit(settings.model)
  yield* Effect.acquireRelease(
    Effect.sync(() =>
      nc.subscribe(subject, {
        queue: subject,
        callback: (error, msg) => {
          if (error === null && msg.reply) run(answerOne(nc, msg, registry, serving, settings))
        }
      })
    ),
    (sub) => Effect.promise(() => sub.drain().catch(() => undefined))
  )
})
