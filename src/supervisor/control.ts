// A supervisor's answers on the bus: `status` (its tree and actors), and the control commands
// `restart` (a model or one actor, without a gap) and `scale` (a model's replica count).
import type { Msg, NatsConnection } from "@nats-io/transport-node"
import { Effect, type Scope } from "effect"
import { encodingOfMessage, parseBody, serialize } from "../protocol/codec.js"
import type { ControlReply, SupervisorStatus } from "../protocol/messages.js"
import type { Subjects } from "../protocol/subjects.js"
import type { ModelSupervisor } from "./ModelSupervisor.js"

export interface ControlledTree {
  readonly id: string
  readonly status: () => SupervisorStatus
  readonly model: (model: string) => ModelSupervisor | undefined
}

const bodyOf = (msg: Msg): Record<string, unknown> => {
  const parsed = parseBody(msg.data, encodingOfMessage(msg))
  return parsed.ok && typeof parsed.value === "object" && parsed.value !== null
    ? (parsed.value as Record<string, unknown>)
    : {}
}

const respond = (msg: Msg, value: unknown) => {
  if (msg.reply) msg.respond(serialize(value, encodingOfMessage(msg)))
}

/** Restarts `target` (a model name, an actor id or a slot id like `iris-2`) where it runs here. */
const restart = (tree: ControlledTree, target: string): Effect.Effect<ControlReply> => {
  const whole = tree.model(target)
  if (whole !== undefined) return whole.restart().pipe(Effect.map((done) => ({ supervisor: tree.id, done })))
  const owner = tree.status().actors.find((a) => a.id === target || a.id.split("@")[0] === target)
  const supervisor = owner === undefined ? undefined : tree.model(owner.model)
  return supervisor === undefined
    ? Effect.succeed({ supervisor: tree.id, done: [] })
    : supervisor.restart(target).pipe(Effect.map((done) => ({ supervisor: tree.id, done })))
}

const scale = (tree: ControlledTree, body: Record<string, unknown>): Effect.Effect<ControlReply> => {
  const { model, replicas, supervisor } = body
  if (supervisor !== undefined && supervisor !== tree.id) return Effect.succeed({ supervisor: tree.id, done: [] })
  const target = typeof model === "string" ? tree.model(model) : undefined
  if (target === undefined) return Effect.succeed({ supervisor: tree.id, done: [] })
  if (typeof replicas !== "number" || !Number.isSafeInteger(replicas) || replicas < 0) {
    return Effect.succeed({
      supervisor: tree.id,
      done: [],
      error: `replicas: expected a whole number ≥ 0, received ${JSON.stringify(replicas)}`
    })
  }
  return target.scale(replicas).pipe(Effect.map((done) => ({ supervisor: tree.id, done })))
}

/** Subscribes the status and control subjects for as long as the scope is open. */
export const answerControl = (
  nc: NatsConnection,
  subject: Subjects,
  tree: ControlledTree
): Effect.Effect<void, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.sync(() => [
      nc.subscribe(subject.status, {
        callback: (error, msg) => {
          if (error === null) respond(msg, tree.status())
        }
      }),
      nc.subscribe(subject.control("restart"), {
        callback: (error, msg) => {
          if (error !== null) return
          const { target } = bodyOf(msg)
          if (typeof target !== "string")
            return respond(msg, {
              supervisor: tree.id,
              done: [],
              error: "target: expected a model name or an actor id"
            })
          void Effect.runPromise(restart(tree, target)).then((reply) => respond(msg, reply))
        }
      }),
      nc.subscribe(subject.control("scale"), {
        callback: (error, msg) => {
          if (error === null) void Effect.runPromise(scale(tree, bodyOf(msg))).then((reply) => respond(msg, reply))
        }
      })
    ]),
    (subs) =>
      Effect.sync(() => {
        for (const s of subs) s.unsubscribe()
      })
  ).pipe(Effect.asVoid)
