// The batch-size probe of one model version: model calls on zero inputs at batch sizes 1, 2, 4, …, each run
// between the actor's batches and timed in CPU time, until the budget is spent (plan and choice: batchSizing).
import type { LoadedModel } from "../model/loader.js"
import type { TensorSpec } from "../model/specs.js"
import { allocate, elementCount, type HostTensor } from "../protocol/tensor.js"
import { type BatchProbeOptions, type FirstCall, nextProbeSize, passOrder, type SizeTimings } from "./batchSizing.js"

/** Zeros for every input with `size` rows (every other dimension fixed: see `probeBlocker`). */
export const zeroBatch = (inputs: ReadonlyArray<TensorSpec>, size: number): Record<string, HostTensor> => {
  const batch: Record<string, HostTensor> = {}
  for (const input of inputs) {
    const shape = input.shape.map((d, axis) => (axis === 0 ? size : (d ?? 1)))
    batch[input.name] = { dtype: input.dtype, shape, data: allocate(input.dtype, elementCount(shape)) }
  }
  return batch
}

export interface ProbeRunner {
  /** Runs a model call between the actor's batches (never beside one). */
  readonly between: <A>(task: () => Promise<A>) => Promise<A>
  /** True once the version probed is no longer served: the probe stops with what it has. */
  readonly stale: () => boolean
  /** The clock calls are timed on, in ms: this process's CPU time unless a test gives another. */
  readonly now?: () => number
}

/**
 * CPU time of this process in ms (every thread: a native backend's pool too). A call is charged what it
 * computed, not the time the scheduler gave other processes meanwhile (on a busy 2-core host that can be
 * 10× the call), and the budget bounds the CPU the probe takes from serving.
 */
export const processCpuMs = (): number => {
  const { user, system } = process.cpuUsage()
  return (user + system) / 1000
}

/** Lets the event loop take messages off the socket (requests queue up and run between probe calls). */
const yieldToIo = () => new Promise<void>((resolve) => setImmediate(resolve))

/**
 * Times `model` at growing batch sizes (each size: a warm-up call, then a timed one that plans the growth),
 * then more timed passes over those sizes in alternating order, `repetitions` timed calls a size at most,
 * until the calls (warm-ups included) have taken `budgetMs`. A call that throws stops the growth (first
 * pass) or is left out (later passes). Never rejects.
 */
export const probeBatchSizes = async (
  model: LoadedModel,
  runner: ProbeRunner,
  options: BatchProbeOptions
): Promise<ReadonlyArray<SizeTimings>> => {
  const now = runner.now ?? processCpuMs
  const timeCall = (inputs: Readonly<Record<string, HostTensor>>) =>
    runner.between(async () => {
      const start = now()
      await model.predict(inputs)
      return now() - start
    })
  const first: Array<FirstCall> = []
  const inputsOf = new Map<number, Record<string, HostTensor>>()
  const callMs = new Map<number, Array<number>>()
  let spent = 0
  for (let size = nextProbeSize(first, options); size !== undefined; size = nextProbeSize(first, options)) {
    if (runner.stale()) return []
    if (spent >= options.budgetMs) break
    const inputs = zeroBatch(model.signature.inputs, size)
    try {
      const warmUp = await timeCall(inputs)
      await yieldToIo()
      const ms = await timeCall(inputs)
      first.push({ size, ms })
      inputsOf.set(size, inputs)
      callMs.set(size, [ms])
      spent += warmUp + ms
    } catch {
      first.push({ size, failed: true })
    }
    await yieldToIo()
  }
  const sizes = [...inputsOf.keys()]
  passes: for (let pass = 1; pass < options.repetitions; pass++) {
    for (const size of passOrder(sizes, pass)) {
      if (spent >= options.budgetMs || runner.stale()) break passes
      try {
        const ms = await timeCall(inputsOf.get(size)!)
        callMs.get(size)!.push(ms)
        spent += ms
      } catch {
        // left out: the size is judged on the calls that succeeded
      }
      await yieldToIo()
    }
  }
  return sizes.map((size) => ({ size, callMs: callMs.get(size)! }))
}
