// The `fit` responder of an actor: one replica per request (queue group) trains a copy of the
// serving Layers model on the caller's data and publishes it as the next version.
import type { Msg, NatsConnection } from "@nats-io/transport-node"
import { Effect, type Scope } from "effect"
import type { TensorSpec } from "../model/specs.js"
import { trainCopy } from "../model/training.js"
import { encodingOfMessage, parseBody, readTensor, serialize } from "../protocol/codec.js"
import { BadInput } from "../protocol/errors.js"
import type { FitReply } from "../protocol/fit.js"
import type { ActorSettings } from "../protocol/ipc.js"
import { flattenNested } from "../protocol/nested.js"
import { subjects } from "../protocol/subjects.js"
import { fromNumbers, type HostTensor } from "../protocol/tensor.js"
import { type FitError, fitErrorBody } from "../registry/errors.js"
import { publishVersion } from "../registry/publish.js"
import type { Registry } from "../registry/Registry.js"
import type { ServingModel } from "./servingModel.js"

/** A tensor from a `{dtype, shape, data}` object or nested arrays (of `dtype`). */
const tensorFrom = (raw: unknown, name: string, dtype: TensorSpec["dtype"]): HostTensor | BadInput => {
  if (typeof raw === "object" && raw !== null && !Array.isArray(raw))
    return readTensor(raw as Record<string, unknown>, name)
  const flat = flattenNested(raw)
  if (!flat.ok) return new BadInput({ message: `${name}: ${flat.reason}` })
  return { dtype, shape: flat.shape, data: fromNumbers(dtype, flat.values) }
}

const positive = (v: unknown) => v === undefined || (typeof v === "number" && Number.isSafeInteger(v) && v > 0)

const train = (registry: Registry, serving: ServingModel, settings: ActorSettings, body: Record<string, unknown>) =>
  Effect.gen(function* () {
    const input = serving.current.model.signature.inputs[0]
    if (serving.current.model.signature.inputs.length !== 1 || input === undefined) {
      return yield* new BadInput({ message: "fit supports models with one input" })
    }
    const x = tensorFrom(body.x, "x", input.dtype)
    if (x instanceof BadInput) return yield* x
    const y = tensorFrom(body.y, "y", "float32")
    if (y instanceof BadInput) return yield* y
    if (!positive(body.epochs) || !positive(body.batchSize)) {
      return yield* new BadInput({
        message: `epochs and batchSize: expected whole numbers > 0, received ${JSON.stringify([body.epochs, body.batchSize])}`
      })
    }
    const current = yield* registry.current(settings.model)
    if (current === undefined)
      return yield* new BadInput({ message: `${settings.model} has no version in the registry yet` })
    const files = yield* registry.fetchArtifacts(settings.model, current.entry)
    const trained = yield* trainCopy(files, x, y, {
      ...(typeof body.epochs === "number" ? { epochs: body.epochs } : {}),
      ...(typeof body.batchSize === "number" ? { batchSize: body.batchSize } : {}),
      ...(typeof body.loss === "string" ? { loss: body.loss } : {}),
      ...(typeof body.learningRate === "number" ? { learningRate: body.learningRate } : {})
    })
    const entry = yield* publishVersion(registry, settings.model, trained.files, {
      source: `fit:${settings.id} from v${current.entry.version}`
    })
    const reply: FitReply = { version: entry.version, loss: trained.loss, actor: settings.id }
    return reply
  })

/** Answers fit requests for as long as the scope is open. */
export const answerFit = (
  nc: NatsConnection,
  registry: Registry,
  serving: ServingModel,
  settings: ActorSettings
): Effect.Effect<void, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.sync(() => {
      const subject = subjects(settings.prefix).fit(settings.model)
      return nc.subscribe(subject, {
        queue: subject,
        callback: (error, msg: Msg) => {
          if (error !== null || !msg.reply) return
          const encoding = encodingOfMessage(msg)
          const parsed = parseBody(msg.data, encoding)
          const body =
            parsed.ok && typeof parsed.value === "object" && parsed.value !== null
              ? (parsed.value as Record<string, unknown>)
              : {}
          void Effect.runPromise(
            train(registry, serving, settings, body).pipe(
              Effect.map((reply): unknown => reply),
              Effect.catch((e) => Effect.succeed(fitErrorBody(e as FitError)))
            )
          ).then((reply) => msg.respond(serialize(reply, encoding)))
        }
      })
    }),
    (sub) => Effect.promise(() => sub.drain().catch(() => undefined))
  ).pipe(Effect.asVoid)
