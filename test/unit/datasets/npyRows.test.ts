// A .npy file read a chunk of rows at a time, from real files: the chunks hold the file's rows in order,
// the header is checked (dtype, shape, the model's input, the size) before any row is read, and a file that
// shrinks while it is read throws a BadDataset naming the row where it ended.
import { mkdtemp, rm, truncate, writeFile } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { BadDataset } from "../../../src/datasets/errors.js"
import { encodeNpy } from "../../../src/datasets/npy.js"
import { openNpyRows } from "../../../src/datasets/npyRows.js"
import { openDataset } from "../../../src/datasets/read.js"
import type { RowSource } from "../../../src/datasets/source.js"
import type { Chunk } from "../../../src/datasets/table.js"
import type { HostTensor } from "../../../src/protocol/tensor.js"

let dir: string
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "modelbus-npyrows-"))
})
afterAll(() => rm(dir, { recursive: true, force: true }))

const iris = [{ name: "x", dtype: "float32" as const, shape: [null, 4] }]
const fileOf = async (name: string, tensor: HostTensor) => {
  const file = join(dir, name)
  await writeFile(file, encodeNpy(tensor))
  return file
}
const collect = async (source: RowSource, chunkRows: number) => {
  const chunks: Array<Chunk> = []
  for await (const c of source.chunks(chunkRows)) chunks.push(c)
  return chunks
}
const messageOf = (value: unknown) => (value instanceof BadDataset ? value.message : "opened")

describe("openNpyRows", () => {
  it("yields the file's rows in chunks, in order, the last one shorter", async () => {
    const data = Float32Array.from({ length: 7 * 4 }, (_, i) => i / 2)
    const source = (await openNpyRows(
      await fileOf("seven.npy", { dtype: "float32", shape: [7, 4], data }),
      iris
    )) as RowSource
    expect(source).toMatchObject({ rows: 7, readable: 7, rowBytes: 16, rejected: [] })
    const chunks = await collect(source, 3)
    expect(chunks.map((c) => [c.chunk, c.rowIndex, c.inputs[""]!.shape])).toEqual([
      [0, [0, 1, 2], [3, 4]],
      [1, [3, 4, 5], [3, 4]],
      [2, [6], [1, 4]]
    ])
    expect(chunks.flatMap((c) => Array.from(c.inputs[""]!.data as Float32Array))).toEqual(Array.from(data))
  })

  it("reads int64 rows of three axes (a format 2.0 header too)", async () => {
    const data = BigInt64Array.from({ length: 5 * 2 * 3 }, (_, i) => BigInt(i) * 2n ** 40n)
    const file = await fileOf("ints.npy", { dtype: "int64", shape: [5, 2, 3], data })
    const chunks = await collect((await openNpyRows(file)) as RowSource, 2)
    expect(chunks.map((c) => c.inputs[""]!.shape)).toEqual([
      [2, 2, 3],
      [2, 2, 3],
      [1, 2, 3]
    ])
    expect(chunks.flatMap((c) => Array.from(c.inputs[""]!.data as BigInt64Array))).toEqual(Array.from(data))
  })

  it("refuses a shape or dtype the model does not take, before reading a row", async () => {
    const wide = await fileOf("a.npy", { dtype: "float32", shape: [2, 5], data: new Float32Array(10) })
    expect(messageOf(await openNpyRows(wide, iris))).toBe(
      `${wide}: shape [2, 5] does not fit input "x" [?, 4] (first axis = rows)`
    )
    const ints = await fileOf("i.npy", { dtype: "int32", shape: [2, 4], data: new Int32Array(8) })
    expect(messageOf(await openNpyRows(ints, iris))).toBe(
      `${ints}: expected dtype float32 for input "x", the file holds int32`
    )
    const two = [...iris, { name: "y", dtype: "float32" as const, shape: [null, 1] }]
    expect(messageOf(await openNpyRows(ints, two))).toContain("a .npy file is one input, but the model takes 2 (x, y)")
  })

  it("refuses a missing file, a file that is not .npy and one cut short, each in one line", async () => {
    expect(messageOf(await openNpyRows(join(dir, "none.npy")))).toBe(`${join(dir, "none.npy")}: no such file`)
    const text = join(dir, "text.npy")
    await writeFile(text, "hello, world")
    expect(messageOf(await openNpyRows(text))).toContain("not a .npy file")
    const cut = await fileOf("cut.npy", { dtype: "float32", shape: [4, 4], data: new Float32Array(16) })
    await truncate(cut, 128 + 40)
    expect(messageOf(await openNpyRows(cut))).toBe(`${cut}: the .npy data holds 40 bytes; shape (4, 4) of <f4 needs 64`)
    await truncate(cut, 20)
    expect(messageOf(await openNpyRows(cut))).toBe(`${cut}: the .npy header is cut short`)
  })

  it("throws a BadDataset naming the row when the file shrinks while it is read", async () => {
    const file = await fileOf("shrinks.npy", { dtype: "float32", shape: [6, 4], data: new Float32Array(24) })
    const source = (await openNpyRows(file, iris)) as RowSource
    const seen: Array<number> = []
    const reading = (async () => {
      for await (const c of source.chunks(2)) {
        seen.push(c.chunk)
        if (c.chunk === 0) await truncate(file, 128 + 3 * 16 + 8)
      }
    })()
    await expect(reading).rejects.toThrow(`${file}: the file ended at row 3 of 6 while it was read: did it change?`)
    expect(seen).toEqual([0])
  })
})

describe("openDataset", () => {
  it("opens .npy as rows read on demand and .jsonl as its readable rows, and names an unknown format", async () => {
    const npy = await fileOf("d.npy", { dtype: "float32", shape: [3, 4], data: new Float32Array(12) })
    expect(await openDataset(npy, iris)).toMatchObject({ rows: 3, readable: 3, rowBytes: 16 })
    const jsonl = join(dir, "d.jsonl")
    await writeFile(jsonl, "[1, 2, 3, 4]\n[1, 2, 3]\n[5, 6, 7, 8]\n")
    const source = (await openDataset(jsonl, iris)) as RowSource
    expect(source).toMatchObject({ rows: 3, readable: 2, rowBytes: 16 })
    expect(source.rejected.map((r) => r.row)).toEqual([1])
    expect((await collect(source, 5)).map((c) => c.rowIndex)).toEqual([[0, 2]])
    expect(messageOf(await openDataset(join(dir, "d.csv")))).toContain("unknown input format")
  })
})
