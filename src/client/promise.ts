// The Promise façade for code that does not use Effect: `connect()` returns every operation of the
// Effect client as a Promise; a rejection is the same tagged error class the Effect API fails with.
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Scope from "effect/Scope"
import type { InferInputs } from "../protocol/codec.js"
import type { ControlReply, InferReply, LifecycleEvent, SupervisorStatus } from "../protocol/messages.js"
import type { ModelMetadata } from "../protocol/metadata.js"
import type { ModelVersion } from "../registry/versions.js"
import type { CanaryOptions, CanaryRollout, CanarySource, PromoteResult } from "./canary.js"
import type { CanaryReport } from "./canaryReport.js"
import type { DescribeOptions } from "./describe.js"
import {
  type ClientOptions,
  type ClientStats,
  type InferOptions,
  makeModelClient,
  type StatusOptions
} from "./ModelClient.js"
import type { ControlOptions } from "./operations.js"
import type { UpdateOptions, UpdateResult, UpdateSource } from "./update.js"

export interface Client {
  infer(model: string, inputs: InferInputs, options?: InferOptions): Promise<InferReply>
  inferMany(
    model: string,
    inputs: ReadonlyArray<InferInputs>,
    options?: InferOptions
  ): Promise<ReadonlyArray<InferReply>>
  /** One replica's answer about `model` (inputs, outputs, version, format, backend); rejects with NotFound when nobody serves it. */
  describe(model: string, options?: DescribeOptions): Promise<ModelMetadata>
  status(options?: StatusOptions): Promise<ReadonlyArray<SupervisorStatus>>
  /** Requests, attempts, retries, failures and hedges so far, and the recent p99 (a snapshot). */
  stats(): ClientStats
  /** Replaces every replica of a model, or one actor, without a gap. */
  restart(target: string, options?: ControlOptions): Promise<ReadonlyArray<ControlReply>>
  /** Sets the replica count of `model`. */
  scale(
    model: string,
    replicas: number,
    options?: ControlOptions & { readonly supervisor?: string }
  ): Promise<ReadonlyArray<ControlReply>>
  /** Publishes a new version (artifacts folder, or `fit` on a replica) and waits until every replica serves it. */
  updateModel(model: string, source: UpdateSource, options?: UpdateOptions): Promise<UpdateResult>
  /** Publishes artifacts as the next version without waiting. */
  pushModel(model: string, path: string, options?: UpdateOptions): Promise<ModelVersion>
  /** A new version serving an earlier version's artifacts; waits for the replicas. Rejects with NotFound for an unknown model, VersionNotFound for a version not kept. */
  rollbackModel(model: string, to?: number, options?: UpdateOptions): Promise<UpdateResult>
  listModels(): Promise<ReadonlyArray<{ readonly model: string; readonly current: ModelVersion }>>
  /** Every kept version of `model`, oldest first; rejects with NotFound when the registry has none. */
  modelHistory(model: string): Promise<ReadonlyArray<ModelVersion>>
  /** Starts a canary of `source` beside the current version; resolves once every live replica took it up. */
  startCanary(model: string, source: CanarySource, options: CanaryOptions): Promise<CanaryRollout>
  /** Makes the candidate the current version; resolves once every live replica serves it. */
  promoteCanary(model: string, options?: { readonly timeoutMs?: number }): Promise<PromoteResult>
  /** Goes back to the stable version only; resolves once every live replica dropped the candidate. */
  abortCanary(model: string, options?: { readonly timeoutMs?: number }): Promise<CanaryRollout>
  /** The canary (running, or the last one) and its figures per version; rejects with NoCanary when there was none. */
  canaryStatus(model: string): Promise<CanaryReport>
  /** Calls `onEvent` for each lifecycle event of `model` (default: all); resolves once subscribed, with the function that stops it. */
  onEvents(onEvent: (event: LifecycleEvent) => void, model?: string): Promise<() => void>
  close(): Promise<void>
  [Symbol.asyncDispose](): Promise<void>
}

/** Runs an effect and rejects with its typed error itself (not a wrapper). */
const run = async <A, E>(effect: Effect.Effect<A, E>): Promise<A> => {
  const exit = await Effect.runPromiseExit(effect)
  if (Exit.isSuccess(exit)) return exit.value
  throw Cause.squash(exit.cause)
}

/** Connects to NATS and returns a Promise-based client. Rejects with ConnectionError. */
export const connect = async (options: ClientOptions = {}): Promise<Client> => {
  const scope = Scope.makeUnsafe()
  const client = await run(Scope.provide(scope)(makeModelClient(options))).catch(async (error) => {
    await run(Scope.close(scope, Exit.void))
    throw error
  })
  const close = () => run(Scope.close(scope, Exit.void))
  return {
    infer: (model, inputs, opts) => run(client.infer(model, inputs, opts)),
    inferMany: (model, inputs, opts) => run(client.inferMany(model, inputs, opts)),
    describe: (model, opts) => run(client.describe(model, opts)),
    status: (opts) => run(client.status(opts)),
    stats: () => client.stats(),
    restart: (target, opts) => run(client.restart(target, opts)),
    updateModel: (model, source, opts) => run(client.updateModel(model, source, opts)),
    pushModel: (model, path, opts) => run(client.pushModel(model, path, opts)),
    rollbackModel: (model, to, opts) => run(client.rollbackModel(model, to, opts)),
    listModels: () => run(client.listModels),
    modelHistory: (model) => run(client.modelHistory(model)),
    scale: (model, replicas, opts) => run(client.scale(model, replicas, opts)),
    startCanary: (model, source, opts) => run(client.startCanary(model, source, opts)),
    promoteCanary: (model, opts) => run(client.promoteCanary(model, opts)),
    abortCanary: (model, opts) => run(client.abortCanary(model, opts)),
    canaryStatus: (model) => run(client.canaryStatus(model)),
    onEvents: (onEvent, model) => run(client.onEvents(onEvent, model)),
    close,
    [Symbol.asyncDispose]: close
  }
}
