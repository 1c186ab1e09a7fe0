// Running a batch-job chunk on a fake model: rows go out in calls of even size within the limit, rows that
// follow each other as views of the chunk (no copy), non-finite rows fail alone by input index, a call that
// throws is retried row by row, and a chunk that does not fit the model fails every row with BadInput.
import { describe, expect, it } from "vitest"
import { nonFiniteRows, runChunk } from "../../../src/actors/batchChunk.js"
import { parseBody, serialize } from "../../../src/protocol/codec.js"
import { bytesOf, type HostTensor } from "../../../src/protocol/tensor.js"
import { rowSumSignature, rowSums, xRows } from "./fakes.js"

/** A chunk body as a submitter sends it (msgpack, raw float32 bytes), parsed as an actor parses it. */
const chunkOf = (x: HostTensor) => {
  const bytes = serialize(
    { job: "j", chunk: 0, rows: [], inputs: { dtype: x.dtype, shape: x.shape, data: bytesOf(x.data) } },
    "msgpack"
  )
  const parsed = parseBody(bytes, "msgpack")
  if (!parsed.ok) throw new Error(parsed.reason)
  return { body: parsed.value, byteLength: bytes.byteLength }
}

/** Input row indices of a chunk of `rows` rows starting at input row `from`. */
const indices = (rows: number, from = 1000) => Array.from({ length: rows }, (_, i) => from + i)

const run = (
  x: HostTensor,
  maxRows: number,
  predict: (inputs: Readonly<Record<string, HostTensor>>) => Promise<Record<string, HostTensor>> = async (i) =>
    rowSums(i)
) => {
  const calls: Array<Readonly<Record<string, HostTensor>>> = []
  const { body, byteLength } = chunkOf(x)
  const outcome = runChunk(
    {
      signature: rowSumSignature,
      maxRows,
      predict: (inputs) => {
        calls.push(inputs)
        return predict(inputs)
      }
    },
    body,
    byteLength,
    indices(x.shape[0]!)
  )
  return { outcome, calls }
}

const ys = (outputs: Record<string, HostTensor> | undefined) => Array.from(outputs!.y!.data as Float32Array)

describe("runChunk", () => {
  it("runs a chunk in calls of even size within the limit, each a view of the chunk's rows", async () => {
    const x = xRows(129)
    const { outcome, calls } = run(x, 64)
    const result = await outcome
    expect(calls.map((c) => c.x!.shape[0])).toEqual([43, 43, 43])
    // rows that follow each other are passed as views of the decoded chunk, not copies
    const buffers = new Set(calls.map((c) => c.x!.data.buffer))
    expect(buffers.size).toBe(1)
    expect(result.failed).toEqual([])
    expect(result.rows).toEqual(indices(129))
    expect(ys(result.outputs)).toEqual(Array.from({ length: 129 }, (_, r) => 11 * r))
  })

  it("runs a chunk within the limit in one call of all its rows", async () => {
    const { outcome, calls } = run(xRows(50), 64)
    const result = await outcome
    expect(calls.map((c) => c.x!.shape[0])).toEqual([50])
    expect(result.rows).toHaveLength(50)
  })

  it("fails non-finite rows alone by input index and runs the others, stacked around them", async () => {
    const x = xRows(6)
    const data = x.data as Float32Array
    data[2 * 1 + 1] = Number.NaN
    data[2 * 4] = Number.NEGATIVE_INFINITY
    const { outcome, calls } = run(x, 64)
    const result = await outcome
    expect(result.failed.map((f) => [f.row, f.error._tag])).toEqual([
      [1001, "BadInput"],
      [1004, "BadInput"]
    ])
    expect(result.failed[0]!.error.message).toContain("holds NaN at flat index 1")
    expect(result.failed[1]!.error.message).toContain("holds -Infinity at flat index 0")
    expect(calls.map((c) => c.x!.shape[0])).toEqual([4])
    expect(result.rows).toEqual([1000, 1002, 1003, 1005])
    expect(ys(result.outputs)).toEqual([0, 22, 33, 55])
  })

  it("retries a call that throws row by row, so only the rows the model cannot run fail", async () => {
    const x = xRows(4)
    const { outcome } = run(x, 64, async (inputs) => {
      const rows = inputs.x!.data as Float32Array
      // row 2 is [2, 20]: the model throws on any call holding it
      for (let i = 0; i < rows.length; i += 2) if (rows[i] === 2) throw new Error("cannot run row 2")
      return rowSums(inputs)
    })
    const result = await outcome
    expect(result.failed).toEqual([{ row: 1002, error: { _tag: "InferenceFailed", message: "cannot run row 2" } }])
    expect(result.rows).toEqual([1000, 1001, 1003])
    expect(ys(result.outputs)).toEqual([0, 11, 33])
  })

  it("fails every row with BadInput when the chunk's rows do not fit the model", async () => {
    const x: HostTensor = { dtype: "float32", shape: [2, 3], data: new Float32Array(6) }
    const { outcome, calls } = run(x, 64)
    const result = await outcome
    expect(calls).toEqual([])
    expect(result.outputs).toBeUndefined()
    expect(result.failed.map((f) => [f.row, f.error._tag])).toEqual([
      [1000, "BadInput"],
      [1001, "BadInput"]
    ])
  })
})

describe("nonFiniteRows", () => {
  it("finds no row in finite data and each row holding NaN or ±Infinity otherwise", () => {
    const x = xRows(5)
    expect(nonFiniteRows({ x }, 5).size).toBe(0)
    const data = x.data as Float32Array
    data[0] = Number.POSITIVE_INFINITY
    data[2 * 3 + 1] = Number.NaN
    expect([...nonFiniteRows({ x }, 5).keys()]).toEqual([0, 3])
  })
})
