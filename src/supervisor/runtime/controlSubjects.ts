// A supervisor's answers on the bus: `status` (its tree and actors), and the control commands
// `restart` and `scale`, decoded with Schema and run as fibers of the supervisor's own scope.
import type { Msg, NatsConnection } from "@nats-io/transport-node"
import { Effect, FiberSet, Schema, type Scope } from "effect"
import { encodingOfMessage, parseBody, serialize } from "../../protocol/codec.js"
import { RestartRequest, ScaleRequest } from "../../protocol/controlRequests.js"
import type { ControlReply, SupervisorStatus } from "../../protocol/messages.js"
import type { Subjects } from "../../protocol/subjects.js"

/** What the control subjects need of a supervisor process. */
export interface ControlledTree {
  readonly id: string
  readonly status: () => SupervisorStatus
  /** Replaces a model's replicas, or one replica, without a gap: the actor ids replaced. */
  readonly restart: (target: string) => Effect.Effect<ReadonlyArray<string>>
  /** Sets a model's replica count: the actor ids added or removed (none when the model does not run here); refused (why) for an autoscaled model. */
  readonly scale: (model: string, replicas: number) => Effect.Effect<ReadonlyArray<string>, string>
}

const respond = (msg: Msg, value: unknown) => {
  if (msg.reply) msg.respond(serialize(value, encodingOfMessage(msg)))
}

/** The request body decoded with `schema`, or the reason it does not fit. */
const decode = <S extends Schema.Decoder<unknown>>(schema: S, msg: Msg) => {
  const parsed = parseBody(msg.data, encodingOfMessage(msg))
  if (!parsed.ok) return Effect.fail(parsed.reason)
  return Schema.decodeUnknownEffect(schema)(parsed.value).pipe(Effect.mapError((error) => error.message))
}

const answer = (tree: ControlledTree, msg: Msg, work: Effect.Effect<ReadonlyArray<string>, string>) =>
  work.pipe(
    Effect.match({
      onSuccess: (done): ControlReply => ({ supervisor: tree.id, done }),
      onFailure: (error): ControlReply => ({ supervisor: tree.id, done: [], error })
    }),
    Effect.flatMap((reply) => Effect.sync(() => respond(msg, reply)))
  )

const restart = (tree: ControlledTree, msg: Msg) =>
  answer(tree, msg, decode(RestartRequest, msg).pipe(Effect.flatMap((request) => tree.restart(request.target))))

const scale = (tree: ControlledTree, msg: Msg) =>
  answer(
    tree,
    msg,
    decode(ScaleRequest, msg).pipe(
      Effect.flatMap((request) =>
        request.supervisor !== undefined && request.supervisor !== tree.id
          ? Effect.succeed([])
          : tree.scale(request.model, request.replicas)
      )
    )
  )

/** Answers the status and control subjects for as long as the scope is open. */
export const answerControl = Effect.fnUntraced(function* (
  nc: NatsConnection,
  subject: Subjects,
  tree: ControlledTree
): Effect.fn.Return<void, never, Scope.Scope> {
  const run = yield* FiberSet.makeRuntime<never, void, never>()
  const handle = (work: (msg: Msg) => Effect.Effect<void>) => (error: Error | null, msg: Msg) => {
    if (error === null) run(work(msg))
  }
  yield* Effect.acquireRelease(
    Effect.sync(() => [
      nc.subscribe(subject.status, { callback: handle((msg) => Effect.sync(() => respond(msg, tree.status()))) }),
      nc.subscribe(subject.control("restart"), { callback: handle((msg) => restart(tree, msg)) }),
      nc.subscribe(subject.control("scale"), { callback: handle((msg) => scale(tree, msg)) })
    ]),
    (subscriptions) =>
      Effect.sync(() => {
        for (const subscription of subscriptions) subscription.unsubscribe()
      })
  )
})
