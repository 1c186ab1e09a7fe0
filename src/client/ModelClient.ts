// The Effect client of modelbus: `infer` (with safe retries), `inferMany`, `describe`, `status` and `stats` over one
// NATS connection, every failure a typed error (service errors plus Timeout, NoResponders, ConnectionError).
import { type Msg, type MsgHdrs, type NatsConnection, headers as natsHeaders } from "@nats-io/transport-node"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Metric from "effect/Metric"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as Tracer from "effect/Tracer"
import { defaultServers, natsConnection } from "../nats/connection.js"
import { gather } from "../nats/gather.js"
import { livenessOf } from "../nats/liveness.js"
import { deniedBy, permissionDeniedOf, violationOf } from "../nats/permissions.js"
import type { NatsAuth } from "../protocol/auth.js"
import {
  CONTENT_TYPE_HEADER,
  decodeReply,
  type Encoding,
  encodeRequest,
  encodingOfMessage,
  type InferInputs,
  JSON_CONTENT_TYPE,
  parseBody,
  serialize
} from "../protocol/codec.js"
import {
  BadInput,
  BadReply,
  ConnectionError,
  type InferError,
  type NoResponders,
  type NotFound,
  Overloaded,
  type PermissionDenied
} from "../protocol/errors.js"
import type { ControlReply, InferReply, LifecycleEvent, SupervisorStatus } from "../protocol/messages.js"
import type { ModelMetadata } from "../protocol/metadata.js"
import { DEFAULT_PREFIX, subjects } from "../protocol/subjects.js"
import { messageOf } from "../protocol/values.js"
import { type Canaries, canariesOn } from "./canary.js"
import { type DescribeError, type DescribeOptions, describeOn } from "./describe.js"
import { type AttemptTimeoutPolicy, type HedgePolicy, timeoutStep } from "./latency.js"
import { gatherPlan, membershipOn } from "./membership.js"
import { type ControlOptions, type ControlRefused, controlOn } from "./operations.js"
import { attemptReplica, type HeardReplicas, heardReplicas, hedgeReplica } from "./replicaChoice.js"
import { muxedRequester, type Requester } from "./requester.js"
import {
  DEFAULT_TIMEOUT_MS,
  defaultRetryPolicy,
  type RetryPlan,
  type RetryPolicy,
  resolveRetryPolicy,
  retrying,
  retryPlan
} from "./retry.js"
import { decodeSupervisorStatus } from "./statusReply.js"
import { type TailControl, tailControl } from "./tail.js"
import { type Updates, updatesOn } from "./update.js"

/**
 * Where and how to connect: servers and credentials (`user`/`password`, `token`, `creds` or `nkey`
 * file, `tls: { ca, cert, key }` files), or an open `connection` the client uses and leaves open.
 */
export interface ClientOptions extends NatsAuth {
  /** NATS server URL(s), `tls://` to require TLS, credentials allowed in them (`nats://user:pass@host`); default `$NATS_URL`, else nats://127.0.0.1:4222. */
  readonly servers?: string | ReadonlyArray<string>
  /** An open connection to use instead of opening one (its owner closes it; `servers` and credentials are then unused). */
  readonly connection?: NatsConnection
  /** Subject prefix of the deployment (default `modelbus`). */
  readonly prefix?: string
  /**
   * The longest one attempt waits for its reply, in ms (default 5 000); `retry.attemptTimeoutMs` overrides it.
   * Once the client has seen enough replies, an attempt waits less: see `attemptTimeout`.
   */
  readonly timeoutMs?: number
  /** Retries of `Timeout`, `NoResponders` and `Overloaded` (default: 5 attempts, 25 ms doubling to at most 1 s); `false` for none. */
  readonly retry?: Partial<RetryPolicy> | false
  /**
   * How long an attempt waits from the latency seen (default: 5 × the recent p99, at least 200 ms,
   * doubling with each retry; the last attempt waits the whole `timeoutMs`); `false`: every attempt waits `timeoutMs`.
   */
  readonly attemptTimeout?: Partial<AttemptTimeoutPolicy> | false
  /**
   * Hedged requests (on by default): when an attempt has not answered after 2 × the recent p99 (at
   * least 20 ms), a second copy goes out and the first reply wins, for at most 5 % of requests over
   * time (`budget`, with a `burst` of 10); `false` turns hedging off.
   */
  readonly hedge?: Partial<HedgePolicy> | false
  /** Wire encoding of requests (default msgpack). */
  readonly encoding?: Encoding
  /** Connection name shown in NATS monitoring. */
  readonly name?: string
}

export interface InferOptions {
  /** Only these outputs, by name (the reply then holds a map). */
  readonly outputs?: ReadonlyArray<string>
  /** How long each attempt waits for its reply, in ms (`retry.attemptTimeoutMs` wins if both are set). */
  readonly timeoutMs?: number
  /** Overrides the client's retry policy for this call (laid over it); `false` for a single attempt. */
  readonly retry?: Partial<RetryPolicy> | false
  /** `false`: no second copy of this call goes out (the client hedges by default). */
  readonly hedge?: false
}

/** What a client has done since it was made. */
export interface ClientStats {
  /** `infer` calls (each input of `inferMany` counts once). */
  readonly requests: number
  /** Requests sent on NATS: the first attempts plus the retries. */
  readonly attempts: number
  /** Attempts after the first one of a call. */
  readonly retries: number
  /** Calls that ended in an error, after any retries. */
  readonly failures: number
  /** Second copies sent because an attempt had not answered in time (hedges). */
  readonly hedges: number
  /** Hedges whose copy answered first. */
  readonly hedgesWon: number
  /** The recent p99 latency of replies, in ms (undefined until the client has seen enough). */
  readonly p99Ms: number | undefined
}

export interface StatusOptions {
  /** Stop collecting answers after this long without one (default 300 ms). */
  readonly quietMs?: number
  /** Stop collecting after this long in any case (default 3 000 ms). */
  readonly timeoutMs?: number
}

export class ModelClient extends Context.Service<
  ModelClient,
  {
    /** Runs `model` on one input set; one replica answers. */
    infer(model: string, inputs: InferInputs, options?: InferOptions): Effect.Effect<InferReply, InferError>
    /** Runs `model` on many input sets in parallel (like `ray.get` on a list); fails on the first error. */
    inferMany(
      model: string,
      inputs: ReadonlyArray<InferInputs>,
      options?: InferOptions
    ): Effect.Effect<ReadonlyArray<InferReply>, InferError>
    /** One replica's answer about `model`: inputs and outputs (names, dtypes, shapes), version, format, backend; NotFound when nobody serves it. */
    describe(model: string, options?: DescribeOptions): Effect.Effect<ModelMetadata, DescribeError>
    /** Asks every supervisor for its actors. */
    status(
      options?: StatusOptions
    ): Effect.Effect<ReadonlyArray<SupervisorStatus>, ConnectionError | BadReply | PermissionDenied>
    /** This client's counters so far (a snapshot). */
    stats(): ClientStats
    /** Fails the requests still waiting, and any later `infer`, with ConnectionError (the connection closes with the client's scope). */
    close(): void
    /** Replaces every replica of a model, or one actor, without a gap (fresh process serving first). */
    restart(
      target: string,
      options?: ControlOptions
    ): Effect.Effect<ReadonlyArray<ControlReply>, NotFound | ControlRefused | ConnectionError | PermissionDenied>
    /** Sets the replica count of `model` on every supervisor running it (or one, with `supervisor`). */
    scale(
      model: string,
      replicas: number,
      options?: ControlOptions & { readonly supervisor?: string }
    ): Effect.Effect<ReadonlyArray<ControlReply>, NotFound | ControlRefused | ConnectionError | PermissionDenied>
    /** Lifecycle events of `model` (default: every model) as they happen. */
    events(model?: string): Stream.Stream<LifecycleEvent, ConnectionError | PermissionDenied>
    /** Calls `onEvent` for each event; succeeds once subscribed, with the function that stops it. */
    onEvents(
      onEvent: (event: LifecycleEvent) => void,
      model?: string
    ): Effect.Effect<() => void, ConnectionError | PermissionDenied>
  } & Updates &
    Canaries
>()("modelbus/client/ModelClient") {
  /** A client on its own connection (closed with the layer), or on `options.connection` (left open). */
  static readonly layer = (options: ClientOptions = {}) => Layer.effect(ModelClient, makeModelClient(options))
}

/** Process-wide counters (Effect `Metric`s, in the current `Metric.MetricRegistry`), summed over all clients. */
export const clientMetrics = {
  requests: Metric.counter("modelbus_client_requests_total", {
    description: "infer calls made by modelbus clients",
    incremental: true
  }),
  retries: Metric.counter("modelbus_client_retries_total", {
    description: "infer attempts after the first one of a call",
    incremental: true
  }),
  failures: Metric.counter("modelbus_client_failures_total", {
    description: "infer calls that ended in an error after any retries",
    incremental: true
  }),
  hedges: Metric.counter("modelbus_client_hedges_total", {
    description: "second copies of infer attempts sent because the first had not answered in time",
    incremental: true
  })
} as const

/** The W3C trace context header an actor continues a trace from. */
const TRACEPARENT_HEADER = "traceparent"

/** The caller's current span (its parent span for what it calls), unless propagation is disabled there. */
const propagatedSpan = (context: Context.Context<never>): Tracer.AnySpan | undefined => {
  const span = Context.getOrUndefined(context, Tracer.ParentSpan)
  return span === undefined || Context.get(span.annotations, Tracer.DisablePropagation) ? undefined : span
}

/** Decodes a reply; a successful one is reported to `answered` (who answered). */
const readReply = (
  msg: Msg,
  subject: string,
  answered: (reply: InferReply) => void
): Effect.Effect<InferReply, InferError> => {
  const decoded = decodeReply(msg.data, encodingOfMessage(msg))
  switch (decoded.kind) {
    case "reply":
      answered(decoded.reply)
      return Effect.succeed(decoded.reply)
    case "error":
      return Effect.fail(decoded.error)
    case "malformed":
      return Effect.fail(new BadReply({ message: `unexpected reply on ${subject}: ${decoded.reason}`, subject }))
  }
}

/** Builds the client's operations on an open connection. */
export const clientOn = (
  nc: NatsConnection,
  options: ClientOptions = {},
  tail: TailControl = tailControl(options.hedge, options.attemptTimeout, livenessOf(nc, false)),
  requester: Requester = muxedRequester(nc, tail.hooks),
  replicas: HeardReplicas = heardReplicas()
): ModelClient["Service"] => {
  const subject = subjects(options.prefix ?? DEFAULT_PREFIX)
  const encoding = options.encoding ?? "msgpack"
  const headers = encoding === "json" ? natsHeaders() : undefined
  headers?.set(CONTENT_TYPE_HEADER, JSON_CONTENT_TYPE)

  // The client's policy and its Schedule are built once; a call only builds its own when it overrides them.
  const clientPolicy = resolveRetryPolicy(
    { ...defaultRetryPolicy, attemptTimeoutMs: options.timeoutMs ?? DEFAULT_TIMEOUT_MS },
    options.retry
  )
  const clientPlan = retryPlan(clientPolicy)
  const planFor = (opts: InferOptions | undefined): RetryPlan => {
    if (opts === undefined || (opts.retry === undefined && opts.timeoutMs === undefined)) return clientPlan
    const base = opts.timeoutMs === undefined ? clientPolicy : { ...clientPolicy, attemptTimeoutMs: opts.timeoutMs }
    if (opts.retry === undefined) return { policy: base, schedule: clientPlan.schedule }
    const policy = resolveRetryPolicy(base, opts.retry)
    const sameSchedule =
      policy.attempts === clientPolicy.attempts &&
      policy.initialDelayMs === clientPolicy.initialDelayMs &&
      policy.maxDelayMs === clientPolicy.maxDelayMs
    return sameSchedule ? { policy, schedule: clientPlan.schedule } : retryPlan(policy)
  }

  const counts = { requests: 0, attempts: 0, retries: 0, failures: 0 }
  /** Hedges already added to the metric (the requester counts them outside any fiber; the next call adds the rest). */
  let hedgesInMetric = 0

  /** NATS says no responders both when nobody serves `model` and when every replica is full; presence tells them apart. */
  const classify = (model: string, noResponders: NoResponders): Effect.Effect<never, NoResponders | Overloaded> =>
    Effect.tryPromise(() => nc.request(subject.presence(model), undefined, { timeout: 250 })).pipe(
      Effect.matchEffect({
        onSuccess: () =>
          Effect.fail(new Overloaded({ message: `every replica of ${model} is at its admission limit` })),
        onFailure: () => Effect.fail(noResponders)
      })
    )

  /** The request headers of a call made inside `parent` (a span of the caller's): its W3C traceparent added. */
  const tracedHeaders = (parent: Tracer.AnySpan): MsgHdrs => {
    const h = natsHeaders()
    if (encoding === "json") h.set(CONTENT_TYPE_HEADER, JSON_CONTENT_TYPE)
    h.set(TRACEPARENT_HEADER, `00-${parent.traceId}-${parent.spanId}-${parent.sampled ? "01" : "00"}`)
    return h
  }

  // who answered each model last (`replicas`): retries and hedges go there (see replicaChoice)
  const answeredBy = (reply: InferReply) => replicas.heard(reply.model, reply.actor, performance.now())

  /** Where a hedge of an attempt sent to the group goes: the replica heard from recently, else the group again. */
  const hedgeSubject = (model: string, group: string) => () => {
    const actor = hedgeReplica(undefined, replicas.last(model), performance.now())
    return actor === undefined ? group : subject.inferActor(model, actor)
  }

  // the reply is decoded as it arrives, inside the request's own step
  const send = (
    to: string,
    model: string,
    body: Uint8Array,
    timeout: number,
    sendHeaders: MsgHdrs | undefined,
    hedgeAfter: number | undefined
  ) =>
    requester.requestWith(
      to,
      body,
      timeout,
      sendHeaders,
      {
        read: (msg: Msg) => readReply(msg, to, answeredBy),
        noResponders: (e: NoResponders) => classify(model, e)
      },
      hedgeAfter,
      hedgeAfter === undefined ? undefined : hedgeSubject(model, to)
    )

  /**
   * An attempt sent to one replica, `actor`, on its own subject: its hedge goes to the group, and
   * NoResponders means that replica left (no presence check). A failure forgets the replica, so the
   * next attempts go to the group unless another replica answers meanwhile.
   */
  const sendToReplica = (
    actor: string,
    group: string,
    model: string,
    body: Uint8Array,
    timeout: number,
    sendHeaders: MsgHdrs | undefined,
    hedgeAfter: number | undefined
  ) => {
    const to = subject.inferActor(model, actor)
    return requester
      .requestWith(
        to,
        body,
        timeout,
        sendHeaders,
        { read: (msg: Msg) => readReply(msg, to, answeredBy), noResponders: Effect.fail },
        hedgeAfter,
        () => group
      )
      .pipe(Effect.tapError(() => Effect.sync(() => replicas.failed(model, actor))))
  }

  /**
   * One call in as few runtime steps as the work allows (this is the client's hot path): counters and
   * metrics are updated in place with the fiber's context, the body is encoded before the first attempt.
   */
  const infer = (model: string, inputs: InferInputs, opts?: InferOptions): Effect.Effect<InferReply, InferError> =>
    Effect.withFiber((fiber) => {
      const context = fiber.context
      counts.requests++
      clientMetrics.requests.updateUnsafe(1, context)
      const hedges = tail.hedges()
      if (hedges !== hedgesInMetric) {
        clientMetrics.hedges.updateUnsafe(hedges - hedgesInMetric, context)
        hedgesInMetric = hedges
      }
      const gaveUp = (error: InferError): InferError => {
        counts.failures++
        clientMetrics.failures.updateUnsafe(1, context)
        return error
      }
      const to = subject.infer(model)
      const plan = planFor(opts)
      // the ceiling of every attempt; the actor drops the request after it (an attempt given up sooner is simply not read)
      const ceiling = plan.policy.attemptTimeoutMs
      const attempts = plan.policy.attempts
      const hedging = opts?.hedge !== false
      if (hedging) tail.requested()
      let body: Uint8Array
      try {
        body = encodeRequest(inputs, opts?.outputs, encoding, ceiling)
      } catch (cause) {
        return Effect.fail(gaveUp(new BadInput({ message: `cannot encode the inputs for ${to}: ${messageOf(cause)}` })))
      }
      // A span of the caller's, if the call runs inside one: a context lookup, no allocation otherwise.
      const parent = propagatedSpan(context)
      const sendHeaders = parent === undefined ? headers : tracedHeaders(parent)
      /** The replica the previous attempt went to (undefined: the queue group). */
      let previous: string | undefined
      /** The connection the previous attempt went out on, and the attempts made on it. */
      let connection = 0
      let onConnection = 0
      return retrying(
        (n) => {
          counts.attempts++
          const hedgeAfter = hedging ? tail.hedgeAfter() : undefined
          if (n === 1) {
            connection = replicas.connection()
            onConnection = 1
            return send(to, model, body, tail.timeoutOf(1, attempts, ceiling), sendHeaders, hedgeAfter)
          }
          const now = replicas.connection()
          onConnection = now === connection ? onConnection + 1 : 1
          connection = now
          const timeout = tail.timeoutOf(timeoutStep(n, attempts, onConnection), attempts, ceiling)
          counts.retries++
          clientMetrics.retries.updateUnsafe(1, context)
          const actor = attemptReplica(n, previous, replicas.last(model), performance.now())
          previous = actor
          return actor === undefined
            ? send(to, model, body, timeout, sendHeaders, hedgeAfter)
            : sendToReplica(actor, to, model, body, timeout, sendHeaders, hedgeAfter)
        },
        plan,
        gaveUp
      )
    })

  const inferMany = (model: string, inputs: ReadonlyArray<InferInputs>, opts?: InferOptions) =>
    Effect.forEach(inputs, (i) => infer(model, i, opts), { concurrency: "unbounded" })

  const stats = (): ClientStats => ({
    ...counts,
    hedges: tail.hedges(),
    hedgesWon: tail.hedgesWon(),
    p99Ms: tail.window.p99()
  })

  const membership = membershipOn(nc, subject.prefix)

  const status = Effect.fn("ModelClient.status")(function* (opts?: StatusOptions) {
    const expected = yield* membership.ids
    if (expected?.length === 0) return []
    const replies = yield* Effect.tryPromise({
      try: () =>
        gather(nc, subject.status, serialize({}, "json"), {
          ...gatherPlan(expected, opts?.quietMs ?? 300, opts?.timeoutMs ?? 3_000),
          headers: jsonHeaders()
        }),
      catch: (error) =>
        permissionDeniedOf(error) ??
        new ConnectionError({
          message: `status request failed: ${messageOf(error)}`
        })
    })
    const statuses: Array<SupervisorStatus> = []
    for (const msg of replies) {
      if (msg.data.byteLength === 0) continue
      const parsed = parseBody(msg.data, "json")
      const decoded = parsed.ok ? decodeSupervisorStatus(parsed.value) : parsed
      if (!decoded.ok)
        return yield* new BadReply({ message: `unexpected status reply: ${decoded.reason}`, subject: subject.status })
      statuses.push(decoded.value)
    }
    return statuses.sort((a, b) => a.supervisor.id.localeCompare(b.supervisor.id))
  })

  // without membership (no JetStream), replicas on one bus answer within milliseconds: a short gap keeps rollouts quick
  const rolloutStatus = status({ quietMs: 100 })
  return ModelClient.of({
    infer,
    inferMany,
    describe: describeOn(requester, options.prefix, clientPolicy.attemptTimeoutMs),
    status,
    stats,
    close: requester.close,
    ...controlOn(nc, membership, options.prefix),
    ...updatesOn(nc, options.prefix, rolloutStatus),
    ...canariesOn(nc, options.prefix, rolloutStatus)
  })
}

const jsonHeaders = () => {
  const h = natsHeaders()
  h.set(CONTENT_TYPE_HEADER, JSON_CONTENT_TYPE)
  return h
}

const authOf = ({ user, password, token, creds, nkey, tls }: ClientOptions): NatsAuth => ({
  ...(user === undefined ? {} : { user }),
  ...(password === undefined ? {} : { password }),
  ...(token === undefined ? {} : { token }),
  ...(creds === undefined ? {} : { creds }),
  ...(nkey === undefined ? {} : { nkey }),
  ...(tls === undefined ? {} : { tls })
})

/** Connects (unless given a connection) and builds a client; a connection it opened closes with the scope. */
export const makeModelClient = Effect.fnUntraced(function* (
  options: ClientOptions = {}
): Effect.fn.Return<ModelClient["Service"], ConnectionError, Scope.Scope> {
  const nc =
    options.connection ??
    (yield* natsConnection({
      servers: options.servers ?? defaultServers(),
      name: options.name ?? "modelbus-client",
      auth: authOf(options)
    }))
  // a connection of its own is watched steadily; one the caller owns is probed only when a request goes unanswered
  const tail = tailControl(options.hedge, options.attemptTimeout, livenessOf(nc, options.connection === undefined))
  const requester = muxedRequester(nc, tail.hooks)
  const replicas = heardReplicas()
  // A reply cannot come over a lost connection: requests in flight fail at once (retryable). Those
  // sent while reconnecting may have reached the new server before the client's inbox did, so on
  // reconnecting they are given up too, and every retry goes out on the new connection. The replicas
  // heard through the lost connection are forgotten: retries go to the queue group until one answers
  // on the new one. A publish the server refuses (reported here, asynchronously) fails the requests
  // waiting on that subject at once.
  yield* Effect.forkScoped(
    Stream.fromAsyncIterable(nc.status(), messageOf).pipe(
      Stream.runForEach((status) => {
        if (status.type === "disconnect") {
          return Effect.sync(() => {
            replicas.forgetAll()
            requester.abandon(`the connection to ${status.server} was lost before it came`)
          })
        }
        if (status.type === "reconnect") {
          return Effect.sync(() => {
            replicas.forgetAll()
            requester.abandon(`sent while reconnecting; the client is now on ${status.server}`)
          })
        }
        const violation = violationOf(status)
        if (violation !== undefined) return Effect.sync(() => requester.deny(deniedBy(violation)))
        return Effect.void
      }),
      Effect.ignore
    )
  )
  const client = clientOn(nc, options, tail, requester, replicas)
  yield* Effect.addFinalizer(() => Effect.sync(client.close))
  return client
})
