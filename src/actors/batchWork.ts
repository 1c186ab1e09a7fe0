// Batch-job work in an actor: pulls chunks from its model's durable consumer only while no online request
// is held (and, after a chunk that ran beside online requests, only after a rest: batchShare.ts), runs each
// in the model loop's idle lane with in-progress acks, publishes the chunk's result keyed
// by chunk, then acks; records a chunk the server gave up redelivering as dead-lettered. Its model calls are
// timed, and the consumer's ack wait follows them (batchAckWait.ts).
import {
  type Consumer,
  JetStreamApiCodes,
  JetStreamApiError,
  type JsMsg,
  jetstream,
  jetstreamManager
} from "@nats-io/jetstream"
import { type KV, Kvm } from "@nats-io/kv"
import { type NatsConnection, headers as natsHeaders } from "@nats-io/transport-node"
import { Effect } from "effect"
import {
  BatchHeader,
  batchConsumer,
  batchNames,
  batchSubjects,
  type ChunkStarted,
  DEAD_LETTER_TAG,
  type JobRecord,
  type ResultBody
} from "../protocol/batch.js"
import { CHUNK_OBJECT_MISSING_TAG, OBJECT_HEADER } from "../protocol/batchObjects.js"
import {
  CONTENT_TYPE_HEADER,
  type Encoding,
  encodingOfMessage,
  JSON_CONTENT_TYPE,
  parseBody
} from "../protocol/codec.js"
import { bytesOf, type HostTensor, jsonValues } from "../protocol/tensor.js"
import { messageOf } from "../protocol/values.js"
import { throughElections } from "../registry/elections.js"
import type { Admission } from "./admission.js"
import { type AckWaitFollower, followAckWait } from "./batchAckWait.js"
import { type BatchBodies, batchBodies } from "./batchBodies.js"
import { type ChunkOutcome, failedChunk, runChunk } from "./batchChunk.js"
import type { Batcher } from "./batcher.js"
import { type ChunkPuller, chunkPuller, type TakenChunk } from "./batchPull.js"
import { type BatchShare, batchShare } from "./batchShare.js"
import type { ModelLoop } from "./modelLoop.js"
import { hold, release, type ServingModel } from "./servingModel.js"

export interface BatchWorkContext {
  readonly nc: NatsConnection
  readonly prefix: string
  readonly model: string
  readonly actorId: string
  readonly serving: ServingModel
  readonly admission: Pick<Admission, "idle" | "onIdle">
  readonly loop: Pick<ModelLoop, "whenIdle">
  readonly batcher: Pick<Batcher, "limit">
  readonly log: (message: string) => void
}

/** How long one pull waits for a chunk before the actor asks again. */
const PULL_EXPIRES_MS = 5_000
/** Results of chunks being stored while the next chunks run, at most. */
const STORING_MAX = 3
/** How long a chunk's result is tried again through JetStream elections before the chunk is given back. */
const RESULT_STORE_PATIENCE_MS = 60_000
/** How long an actor waits before it looks for its consumer again after JetStream did not answer or a pull failed. */
const RELOOK_MS = 1_000

/**
 * Rows per model call of a chunk at least: the batch limit is sized for online latency, and a job's calls
 * amortize the runtime's per-call cost over more rows (an online request waits for at most one such call).
 */
export const BATCH_WORK_MIN_ROWS = 64

const wireTensor = (t: HostTensor, encoding: Encoding) => ({
  dtype: t.dtype,
  shape: t.shape,
  data: encoding === "json" ? jsonValues(t.data) : bytesOf(t.data)
})

/** A chunk's result body: one tensor when the model has one output and none was asked for, as infer replies. */
export const resultBody = (
  ctx: Pick<BatchWorkContext, "model" | "actorId">,
  head: { job: string; chunk: number; delivery: number; version: number; asked: boolean },
  outcome: ChunkOutcome,
  encoding: Encoding
): ResultBody => {
  const names = outcome.outputs === undefined ? [] : Object.keys(outcome.outputs)
  const outputs =
    outcome.outputs === undefined
      ? undefined
      : !head.asked && names.length === 1
        ? wireTensor(outcome.outputs[names[0]!]!, encoding)
        : Object.fromEntries(names.map((n) => [n, wireTensor(outcome.outputs![n]!, encoding)]))
  return {
    job: head.job,
    chunk: head.chunk,
    rows: outcome.rows,
    ...(outputs === undefined ? {} : { outputs }),
    failed: outcome.failed,
    model: ctx.model,
    version: head.version,
    actor: ctx.actorId,
    delivery: head.delivery
  }
}

/** Publishes a chunk's result keyed by chunk; a body too large for one message goes by object (batchBodies.ts). */
const publishResult = async (ctx: BatchWorkContext, bodies: BatchBodies, body: ResultBody, encoding: Encoding) => {
  const { data, object } = await bodies.resultMessage(body, encoding)
  const h = natsHeaders()
  h.set(BatchHeader.job, body.job)
  h.set(BatchHeader.chunk, String(body.chunk))
  h.set(BatchHeader.rows, String(body.rows.length + body.failed.length))
  h.set(BatchHeader.failed, String(body.failed.length))
  h.set(BatchHeader.delivery, String(body.delivery))
  if (encoding === "json") h.set(CONTENT_TYPE_HEADER, JSON_CONTENT_TYPE)
  if (object !== undefined) h.set(OBJECT_HEADER, object)
  await jetstream(ctx.nc).publish(batchSubjects(ctx.prefix).result(body.job, body.chunk), data, { headers: h })
}

/** The job, chunk and input rows a chunk body names, with the parsed body; undefined when it is not a chunk. */
const chunkHead = (data: Uint8Array, encoding: Encoding) => {
  const parsed = parseBody(data, encoding)
  if (!parsed.ok || typeof parsed.value !== "object" || parsed.value === null) return undefined
  const { job, chunk, rows, outputs } = parsed.value as {
    job?: unknown
    chunk?: unknown
    rows?: unknown
    outputs?: unknown
  }
  if (typeof job !== "string" || typeof chunk !== "number" || !Array.isArray(rows)) return undefined
  return { job, chunk, rows: rows.map(Number), asked: outputs !== undefined, body: parsed.value }
}

/** Runs `task` in the model loop's idle lane and settles with its outcome. */
const whenIdle = <A>(loop: Pick<ModelLoop, "whenIdle">, task: () => Promise<A>): Promise<A> =>
  new Promise<A>((resolve, reject) => loop.whenIdle(() => task().then(resolve, reject)))

/** Resolves once the actor holds no online request. */
const untilIdle = (admission: BatchWorkContext["admission"]): Promise<void> =>
  admission.idle()
    ? Promise.resolve()
    : new Promise((resolve) => {
        const stop = admission.onIdle(() => {
          stop()
          resolve()
        })
      })

/**
 * How long the actor must have held no online request before batch work (a pull, a model call) goes on: a
 * job uses the gaps in online traffic, not the instants between one request's reply and the next request.
 */
export const BATCH_QUIET_MS = 2

/**
 * Waits, before each piece of batch work, until the actor has been idle for `quietMs` (at once when it has);
 * `lastIdleAt` is when it last became idle (performance.now()).
 */
const quietGate = (admission: BatchWorkContext["admission"], quietMs: number) => {
  let idleSince = performance.now() - quietMs
  const stop = admission.onIdle(() => {
    idleSince = performance.now()
  })
  const untilQuiet = async (): Promise<void> => {
    for (;;) {
      if (!admission.idle()) await untilIdle(admission)
      const left = idleSince + quietMs - performance.now()
      if (left <= 0 && admission.idle()) return
      if (left > 0) await new Promise((resolve) => setTimeout(resolve, left))
    }
  }
  return { untilQuiet, stop, lastIdleAt: () => idleSince }
}

/** The jobs bucket, opened once per actor (undefined until a job made it). */
const jobsBucket = (nc: NatsConnection, prefix: string) => {
  let opened: Promise<KV> | undefined
  return async (): Promise<KV | undefined> => {
    opened ??= new Kvm(nc).open(batchNames(prefix).jobs)
    try {
      return await opened
    } catch {
      opened = undefined
      return undefined
    }
  }
}

/** How long a replica trusts the state it read of a job before reading it again (a cancel is seen this late at most). */
export const JOB_STATE_TTL_MS = 1_000

/**
 * The state of a job as the jobs bucket holds it, read at most once per JOB_STATE_TTL_MS per job (a chunk
 * of a job seen recently costs no round trip); undefined when it has no record (or the bucket is away).
 */
const jobStates = (jobs: () => Promise<KV | undefined>) => {
  const known = new Map<string, { state: JobRecord["state"] | undefined; readAt: number }>()
  const read = async (job: string): Promise<JobRecord | undefined> => {
    try {
      const entry = await (await jobs())?.get(job)
      return entry === null || entry === undefined || entry.operation !== "PUT" ? undefined : entry.json<JobRecord>()
    } catch {
      return undefined
    }
  }
  return async (job: string): Promise<JobRecord["state"] | undefined> => {
    const now = performance.now()
    const cached = known.get(job)
    if (cached !== undefined && (cached.state === "cancelled" || now - cached.readAt < JOB_STATE_TTL_MS))
      return cached.state
    const state = (await read(job))?.state
    // one entry per job seen lately: the others are forgotten as new ones come
    if (known.size >= 64 && cached === undefined) known.clear()
    known.set(job, { state, readAt: now })
    return state
  }
}

/** Runs `call`, telling `timed` how long it took once it settles. */
const timedCall = async <A>(timed: (ms: number) => void, call: () => Promise<A>): Promise<A> => {
  const start = performance.now()
  try {
    return await call()
  } finally {
    timed(performance.now() - start)
  }
}

/** The parts of an actor a chunk's work uses. */
interface ChunkWork {
  readonly ctx: BatchWorkContext
  readonly untilQuiet: () => Promise<void>
  readonly stateOf: (job: string) => Promise<JobRecord["state"] | undefined>
  readonly ackWait: AckWaitFollower
  readonly bodies: BatchBodies
  readonly share: BatchShare
}

/**
 * The chunk's full body (inline, or read from the object its message names), or the failure of its rows
 * when that object is gone; "settled" when it is gone and the chunk has a result already (a redelivery
 * after its job was done). Rejects when JetStream did not answer (the chunk is then redelivered).
 */
const chunkContent = async (
  bodies: BatchBodies,
  msg: JsMsg,
  head: NonNullable<ReturnType<typeof chunkHead>>,
  encoding: Encoding
) => {
  const object = bodies.objectOf(msg.headers)
  if (object === undefined) return { data: msg.data, full: head }
  const data = await bodies.read(object)
  if (data !== null) {
    const full = chunkHead(data, encoding)
    if (full !== undefined) return { data, full }
    return failedChunk(head.rows, "BadInput", `object ${object} does not hold a chunk body`)
  }
  if (await bodies.hasResult(head.job, head.chunk)) return "settled" as const
  return failedChunk(
    head.rows,
    CHUNK_OBJECT_MISSING_TAG,
    `chunk ${head.chunk} of job ${head.job} names object ${object}, which is not in the batch data bucket (the job was cancelled, or the object deleted)`
  )
}

/**
 * Runs a chunk (unless its job was cancelled), timing its model calls; then, in `stored` (which the next
 * chunk's calls need not wait for), brings the consumer's ack wait to the calls' time, publishes the chunk's
 * result and acks it. Undefined when the chunk was settled without a result (not a chunk, its job cancelled,
 * a redelivery of one done). A chunk whose body is an object is read first; one whose object is gone has
 * each row failed with ChunkObjectMissing.
 */
const workTaken = async (
  { ctx, untilQuiet, stateOf, ackWait, bodies, share }: ChunkWork,
  msg: JsMsg
): Promise<{ readonly stored: Promise<void> } | undefined> => {
  const encoding = encodingOfMessage(msg)
  const head = chunkHead(msg.data, encoding)
  if (head === undefined) {
    ctx.log(`actor ${ctx.actorId}: dropped a message on the batch work stream that is not a chunk`)
    msg.term("not a chunk")
    return undefined
  }
  if ((await stateOf(head.job)) === "cancelled") {
    msg.term("job cancelled")
    return undefined
  }
  ackWait.jobSeen(head.job)
  const content = await chunkContent(bodies, msg, head, encoding)
  if (content === "settled") {
    msg.ack()
    return undefined
  }
  const delivery = msg.info.deliveryCount
  const started: ChunkStarted = { job: head.job, chunk: head.chunk, actor: ctx.actorId, pid: process.pid, delivery }
  ctx.nc.publish(batchSubjects(ctx.prefix).started(ctx.model), JSON.stringify(started))
  const version = hold(ctx.serving.current)
  let outcome: ChunkOutcome
  try {
    outcome = !("full" in content)
      ? content
      : await runChunk(
          {
            signature: version.model.signature,
            maxRows: Math.max(BATCH_WORK_MIN_ROWS, ctx.batcher.limit().maxBatchSize),
            predict: async (inputs, outputs) => {
              await untilQuiet()
              return whenIdle(ctx.loop, () =>
                timedCall(
                  (ms) => {
                    ackWait.timed(ms)
                    share.timed(ms)
                  },
                  () => version.model.predict(inputs, outputs)
                )
              )
            }
          },
          content.full.body,
          content.data.byteLength,
          head.rows
        )
  } finally {
    release(version)
  }
  const asked = "full" in content ? content.full.asked : head.asked
  const body = resultBody(ctx, { ...head, asked, delivery, version: version.version }, outcome, encoding)
  const stored = (async () => {
    // before the result: once a chunk's result is out, the consumer's ack wait covers its calls
    await ackWait.settle()
    // The rows are done: a store that fails while JetStream elects leaders is tried again (the chunk kept in
    // progress) rather than given back, since each redelivery counts toward the chunk's dead-lettering.
    await Effect.runPromise(
      throughElections(
        ctx.nc,
        "batch result store",
        Effect.tryPromise({ try: () => publishResult(ctx, bodies, body, encoding), catch: (cause) => cause }),
        RESULT_STORE_PATIENCE_MS,
        (cause) => cause
      )
    )
    // not waited for: a lost ack only brings the chunk back, and its result replaces this one (same subject)
    msg.ack()
  })()
  return { stored }
}

/** Records the chunk at `seq` of the work stream as dead-lettered (each row failed) and removes it. */
const deadLetter = async (ctx: BatchWorkContext, bodies: BatchBodies, seq: number, deliveries: number) => {
  const names = batchNames(ctx.prefix)
  const jsm = await jetstreamManager(ctx.nc)
  const stored = await jsm.streams.getMessage(names.work, { seq })
  if (stored === null) return
  const encoding = encodingOfMessage({ headers: stored.header })
  const parsed = parseBody(stored.data, encoding)
  const value = parsed.ok ? (parsed.value as { job?: unknown; chunk?: unknown; rows?: unknown }) : undefined
  if (value === undefined || typeof value.job !== "string" || typeof value.chunk !== "number") return
  const rows = Array.isArray(value.rows) ? value.rows.map(Number) : []
  const message = `chunk ${value.chunk} of job ${value.job} was delivered ${deliveries} times and no delivery finished (its actor died or hung each time): dead-lettered`
  const outcome: ChunkOutcome = {
    rows: [],
    outputs: undefined,
    failed: rows.map((row) => ({ row, error: { _tag: DEAD_LETTER_TAG, message } }))
  }
  await publishResult(
    ctx,
    bodies,
    resultBody(
      ctx,
      { job: value.job, chunk: value.chunk, delivery: deliveries, version: ctx.serving.current.version, asked: false },
      outcome,
      encoding
    ),
    encoding
  )
  await jsm.streams.deleteMessage(names.work, seq, false)
  ctx.log(`actor ${ctx.actorId}: ${message}`)
}

/**
 * Follows batch work for the actor's model until its scope closes: waits for a job's notice (or finds
 * the consumer at start), then pulls one chunk at a time while online requests leave the model idle.
 * On release: stops pulling; a chunk being worked is given back (nak) so another replica takes it.
 */
export const followBatchWork = (ctx: BatchWorkContext) =>
  Effect.acquireRelease(
    Effect.sync(() => {
      const names = batchNames(ctx.prefix)
      const subjects = batchSubjects(ctx.prefix)
      const stateOf = jobStates(jobsBucket(ctx.nc, ctx.prefix))
      const gate = quietGate(ctx.admission, BATCH_QUIET_MS)
      const ackWait = followAckWait(ctx)
      const bodies = batchBodies(ctx.nc, ctx.prefix)
      const share = batchShare({ idle: ctx.admission.idle, lastIdleAt: gate.lastIdleAt })
      let stopped = false
      let wake: (() => void) | undefined
      const work: ChunkWork = { ctx, untilQuiet: gate.untilQuiet, stateOf, ackWait, bodies, share }
      let pulling: ChunkPuller | undefined
      let current: TakenChunk | undefined
      const storing = new Set<Promise<void>>()
      // a notice follows a submit, which may have rewritten the consumer's ack wait
      const notice = ctx.nc.subscribe(subjects.notice(ctx.model), {
        callback: () => {
          ackWait.stale()
          wake?.()
        }
      })
      const advisory = ctx.nc.subscribe(
        `$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.${names.work}.${batchConsumer(ctx.model)}`,
        {
          queue: `${ctx.prefix}.batch.deadletter.${ctx.model}`,
          callback: (error, msg) => {
            if (error !== null) return
            const body = (() => {
              try {
                return msg.json<{ stream_seq?: number; deliveries?: number }>()
              } catch {
                return {}
              }
            })()
            if (typeof body.stream_seq === "number")
              deadLetter(ctx, bodies, body.stream_seq, body.deliveries ?? 0).catch((cause) =>
                ctx.log(`actor ${ctx.actorId}: could not dead-letter work message ${body.stream_seq}: ${cause}`)
              )
          }
        }
      )
      const waitForNotice = (ms: number) =>
        new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, ms)
          wake = () => {
            clearTimeout(timer)
            wake = undefined
            resolve()
          }
        })
      // undefined: no consumer (no job was ever submitted for the model); "away": JetStream did not answer
      const consumerOf = async (): Promise<Consumer | "away" | undefined> => {
        try {
          return await jetstream(ctx.nc).consumers.get(names.work, batchConsumer(ctx.model))
        } catch (error) {
          const code = error instanceof JetStreamApiError ? error.code : undefined
          return code === JetStreamApiCodes.ConsumerNotFound || code === JetStreamApiCodes.StreamNotFound
            ? undefined
            : "away"
        }
      }
      /**
       * Pulls and works chunks from `consumer` (up to PULL_AHEAD pulled ahead, batchPull.ts) until it fails (gone, or a pull
       * lost with a server: its heartbeats missed). A chunk's result is stored while the next chunk runs; at
       * most STORING_MAX results are in flight before the loop waits for the oldest.
       */
      const pullFrom = async (consumer: Consumer) => {
        const puller = chunkPuller(consumer, PULL_EXPIRES_MS)
        pulling = puller
        try {
          while (!stopped) {
            await gate.untilQuiet()
            if (stopped) return
            const chunk = await puller.next()
            if (chunk === undefined) continue
            // a chunk that reaches a stopping replica goes back at once: left unworked, or cut off as the
            // process ends, it would wait out its delivery's backoff
            if (stopped) {
              chunk.settled()
              chunk.msg.nak()
              return
            }
            // a redelivered chunk may kill this actor: the results being stored go out first
            if (chunk.msg.info.deliveryCount > 1) await Promise.all(storing)
            current = chunk
            share.chunkStarted()
            let done: { readonly stored: Promise<void> } | undefined
            try {
              done = await workTaken(work, chunk.msg)
            } catch (cause) {
              chunk.settled()
              ctx.log(`actor ${ctx.actorId}: batch chunk not finished, left for redelivery: ${cause}`)
              if (!stopped) chunk.msg.nak(1_000)
              continue
            } finally {
              current = undefined
            }
            if (done === undefined) {
              chunk.settled()
              continue
            }
            const stored = done.stored.then(
              () => chunk.settled(),
              (cause) => {
                chunk.settled()
                ctx.log(`actor ${ctx.actorId}: batch chunk's result not stored, left for redelivery: ${cause}`)
                if (!stopped) chunk.msg.nak(1_000)
              }
            )
            storing.add(stored)
            void stored.finally(() => storing.delete(stored))
            if (storing.size >= STORING_MAX) await Promise.race(storing)
            // online first: a chunk that ran beside online requests is followed by a rest (batchShare.ts)
            await share.rest()
          }
        } finally {
          pulling = undefined
          await puller.close()
        }
      }
      const run = async () => {
        while (!stopped) {
          const consumer = await consumerOf()
          if (consumer === undefined) {
            await waitForNotice(30_000)
            continue
          }
          if (consumer === "away") {
            await waitForNotice(RELOOK_MS)
            continue
          }
          // A pull whose server went (a node killed: its consumer leader moved) ends with an error, not with
          // chunks: the consumer is looked up again and pulled from anew, so no job stalls with its replicas idle.
          await pullFrom(consumer).catch(async (cause) => {
            if (stopped) return
            ctx.log(`actor ${ctx.actorId}: pulling batch chunks failed, pulling again: ${messageOf(cause)}`)
            await waitForNotice(RELOOK_MS)
          })
        }
      }
      const running = run().catch((cause) => ctx.log(`actor ${ctx.actorId}: batch work stopped: ${cause}`))
      return async () => {
        stopped = true
        wake?.()
        current?.settled()
        current?.msg.nak()
        await pulling?.close().catch(() => undefined)
        notice.unsubscribe()
        advisory.unsubscribe()
        gate.stop()
        share.stop()
        await Promise.race([Promise.all([running, ...storing]), new Promise((r) => setTimeout(r, 1_000))])
      }
    }),
    (stop) => Effect.promise(stop)
  )
