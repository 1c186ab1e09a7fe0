// Fakes for the actor's per-message path: a NATS message that records what it was answered with, a
// model whose predict the test writes, and the hot path around it. Only for unit tests of the request logic.
import { type Msg, type MsgHdrs, headers as natsHeaders } from "@nats-io/transport-node"
import type { Tracer } from "effect"
import { makeAdmission } from "../../../src/actors/admission.js"
import { makeBatcher } from "../../../src/actors/batcher.js"
import type { Measurements } from "../../../src/actors/measurements.js"
import { makeModelLoop } from "../../../src/actors/modelLoop.js"
import { acquire, servingModel } from "../../../src/actors/servingModel.js"
import { actorStats } from "../../../src/actors/stats.js"
import type { LoadedModel } from "../../../src/model/loader.js"
import type { ModelSignature } from "../../../src/model/specs.js"
import { CONTENT_TYPE_HEADER, type DecodedReply, decodeReply, JSON_CONTENT_TYPE } from "../../../src/protocol/codec.js"
import { ERROR_CODE_HEADER, ERROR_HEADER } from "../../../src/protocol/errors.js"
import type { BatchingOptions } from "../../../src/protocol/ipc.js"
import type { HostTensor } from "../../../src/protocol/tensor.js"

export interface Answer {
  readonly reply: DecodedReply
  /** `Nats-Service-Error-Code`, when the answer is an error. */
  readonly code: string | undefined
  readonly errorHeader: string | undefined
}

export interface FakeMsg {
  readonly msg: Msg
  /** Every respond() call, decoded as JSON. */
  readonly answers: Array<Answer>
}

/** A JSON request message carrying `body` (a string is sent as is); `reply: false` makes it a plain publish. */
export const fakeMsg = (body: unknown, options: { readonly reply?: boolean } = {}): FakeMsg => {
  const answers: Array<Answer> = []
  const headers = natsHeaders()
  headers.set(CONTENT_TYPE_HEADER, JSON_CONTENT_TYPE)
  const msg = {
    subject: "modelbus.infer.fake",
    reply: options.reply === false ? "" : "_INBOX.fake",
    data: new TextEncoder().encode(typeof body === "string" ? body : JSON.stringify(body)),
    headers,
    respond: (data: Uint8Array, opts?: { headers?: MsgHdrs }) => {
      answers.push({
        reply: decodeReply(data, "json"),
        code: opts?.headers?.get(ERROR_CODE_HEADER) || undefined,
        errorHeader: opts?.headers?.get(ERROR_HEADER) || undefined
      })
      return true
    }
  }
  return { msg: msg as unknown as Msg, answers }
}

/** The signature of a model `x: float32[?, 2] → y: float32[?, 1]`. */
export const rowSumSignature: ModelSignature = {
  format: "layers",
  inputs: [{ name: "x", dtype: "float32", shape: [null, 2] }],
  outputs: [{ name: "y", dtype: "float32", shape: [null, 1] }]
}

/** y = the sum of each row of x: what the fake model computes unless a test says otherwise. */
export const rowSums = (inputs: Readonly<Record<string, HostTensor>>): Record<string, HostTensor> => {
  const x = inputs.x!
  const rows = x.shape[0]!
  const y = new Float32Array(rows)
  for (let r = 0; r < rows; r++) y[r] = (x.data as Float32Array)[2 * r]! + (x.data as Float32Array)[2 * r + 1]!
  return { y: { dtype: "float32", shape: [rows, 1], data: y } }
}

/** A model with `signature` whose predict is `predict`, recording the batch size of each call. */
export const fakeModel = (
  predict: (inputs: Readonly<Record<string, HostTensor>>) => Promise<Record<string, HostTensor>>,
  signature: ModelSignature = rowSumSignature
) => {
  const calls: Array<number> = []
  const model: LoadedModel = {
    signature,
    weights: () => [],
    predict: (inputs) => {
      calls.push(Object.values(inputs)[0]?.shape[0] ?? 0)
      return predict(inputs)
    },
    dispose: () => {}
  }
  return { model, calls }
}

/** `rows` rows of x as a host tensor: row r is [r, 10 r] plus `offset`. */
export const xRows = (rows: number, offset = 0): HostTensor => {
  const data = new Float32Array(rows * 2)
  for (let r = 0; r < rows; r++) {
    data[2 * r] = r + offset
    data[2 * r + 1] = 10 * r + offset
  }
  return { dtype: "float32", shape: [rows, 2], data }
}

export interface HotPathOptions {
  readonly batching?: BatchingOptions
  /** Admission's limit (default 1024). */
  readonly limit?: number
  readonly measure?: Measurements
  readonly tracer?: Tracer.Tracer
}

export interface SubmitOptions {
  readonly deadline?: number
  readonly arrived?: number
  readonly outputs?: ReadonlyArray<string>
  readonly trace?: Tracer.ExternalSpan
  /** The canary draw the pipeline would have made for it (none: the current version). */
  readonly draw?: number
}

/**
 * An actor's hot path past its checks, over a fake model serving version 7: admission, the batcher and
 * the model loop, as the actor wires them. `submit` admits a request and queues it; `idle` resolves
 * the next time admission holds no request; `defects` is what the loop logged as a defect.
 */
export const fakeHotPath = (predict: Parameters<typeof fakeModel>[0], options: HotPathOptions = {}) => {
  const { model, calls } = fakeModel(predict)
  const stats = actorStats()
  const serving = servingModel(model, 7)
  const admission = makeAdmission(options.limit ?? 1024)
  const batcher = makeBatcher(stats, options.batching ?? { maxBatchSize: 32, maxDelayMs: 0 })
  const defects: Array<{ readonly message: string; readonly cause: unknown }> = []
  const loop = makeModelLoop(
    {
      actorId: "fake-1",
      modelName: "fake",
      serving,
      stats,
      measure: options.measure,
      tracer: options.tracer,
      admission,
      logDefect: (message, cause) => void defects.push({ message, cause })
    },
    batcher
  )
  const submit = (x: HostTensor, o: SubmitOptions = {}): FakeMsg => {
    const fake = fakeMsg({})
    if (!admission.admit()) throw new Error("the fake hot path is full")
    loop.submit({
      msg: fake.msg,
      encoding: "json",
      arrived: o.arrived ?? performance.now(),
      inputs: { x },
      outputs: o.outputs,
      deadline: o.deadline ?? Number.POSITIVE_INFINITY,
      version: acquire(serving, o.draw),
      trace: o.trace
    })
    return fake
  }
  const idle = () =>
    new Promise<void>((resolve) => {
      const stop = admission.onIdle(() => {
        stop()
        resolve()
      })
    })
  return { stats, calls, serving, admission, batcher, loop, submit, idle, defects }
}
