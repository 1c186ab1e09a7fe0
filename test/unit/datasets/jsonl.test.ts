// .jsonl datasets: rows as nested arrays or {"inputs": …}, checked against the model's inputs; a line that is
// not JSON fails the file naming the line, a row that does not fit is recorded by index; chunks keep order.
import { describe, expect, it } from "vitest"
import { BadDataset } from "../../../src/datasets/errors.js"
import { nestedRow, readJsonl } from "../../../src/datasets/jsonl.js"
import { chunksOf, type Table, UNNAMED } from "../../../src/datasets/table.js"

const iris = [{ name: "x", dtype: "float32" as const, shape: [null, 4] }]
const two = [
  { name: "a", dtype: "float32" as const, shape: [null, 2] },
  { name: "b", dtype: "int32" as const, shape: [null] }
]

describe("readJsonl", () => {
  it("reads nested arrays and {inputs} rows alike, skipping blank lines", () => {
    const t = readJsonl("d.jsonl", '[1,2,3,4]\n\n{"inputs": [5,6,7,8]}\n', iris) as Table
    expect(t.rows).toBe(2)
    expect(t.inputs[UNNAMED]!.shape).toEqual([2, 4])
    expect(Array.from(t.inputs[UNNAMED]!.data as Float32Array)).toEqual([1, 2, 3, 4, 5, 6, 7, 8])
    expect(t.rejected).toEqual([])
  })

  it("reads named inputs with each input's dtype", () => {
    const t = readJsonl("d.jsonl", '{"inputs": {"a": [1, 2], "b": 7}}\n{"inputs": {"b": 8, "a": [3, 4]}}', two) as Table
    expect(t.inputs.a!.shape).toEqual([2, 2])
    expect(t.inputs.b!.dtype).toBe("int32")
    expect(Array.from(t.inputs.b!.data as Int32Array)).toEqual([7, 8])
  })

  it("records rows that do not fit by index, keeps the others in order", () => {
    const text = ["[1,2,3,4]", "[1,2,3]", '["NaN",0,0,0]', "[[1,2],[3,4]]", "[9,9,9,9]"].join("\n")
    const t = readJsonl("d.jsonl", text, iris) as Table
    expect(t.rows).toBe(5)
    expect(t.index).toEqual([0, 2, 4])
    expect(t.rejected.map((r) => r.row)).toEqual([1, 3])
    expect(t.rejected[0]!.error).toEqual({
      _tag: "BadInput",
      message: "d.jsonl:2: the row: expected shape [4], received [3]"
    })
    // a non-finite value is read (the actor decides about it): JSON's "NaN" string
    expect(Number.isNaN((t.inputs[UNNAMED]!.data as Float32Array)[4])).toBe(true)
  })

  it("records a value an int input cannot hold", () => {
    const t = readJsonl(
      "d.jsonl",
      '{"inputs": {"a": [1, 2], "b": 1.5}}\n{"inputs": {"a": [1, 2], "b": 2}}',
      two
    ) as Table
    expect(t.rejected[0]!.error.message).toBe(
      'd.jsonl:1: input "b": expected int32 values, received 1.5 at flat index 0'
    )
    expect(t.index).toEqual([1])
  })

  it.each([
    ["a line that is not JSON", "[1,2,3,4]\n[1,2,\n", "d.jsonl:2: not JSON"],
    ["a line that is not a row", '[1,2,3,4]\n{"x": 1}', 'd.jsonl:2: expected a row: a nested array or {"inputs": …}'],
    ["an empty file", "\n\n", "d.jsonl: holds no row"],
    [
      "an unnamed row for a model of two inputs",
      "[1,2]",
      "d.jsonl:1: one unnamed input, but the model takes 2 named inputs"
    ]
  ])("fails the file on %s with one line", (_, text, start) => {
    const out = readJsonl("d.jsonl", text, text === "[1,2]" ? two : iris)
    expect(out).toBeInstanceOf(BadDataset)
    expect((out as BadDataset).message.startsWith(start)).toBe(true)
    expect((out as BadDataset).message).not.toContain("\n")
  })

  it("takes the first row's shape when the model's inputs are not known", () => {
    const t = readJsonl("d.jsonl", "[1,2]\n[3,4]\n[5]", undefined) as Table
    expect(t.inputs[UNNAMED]!.shape).toEqual([2, 2])
    expect(t.rejected.map((r) => r.row)).toEqual([2])
  })
})

describe("chunksOf", () => {
  it("cuts the rows read into chunks in order, each naming its input rows", () => {
    const text = Array.from({ length: 7 }, (_, i) => (i === 3 ? "[0]" : `[${i},${i},${i},${i}]`)).join("\n")
    const t = readJsonl("d.jsonl", text, iris) as Table
    const chunks = chunksOf(t, 4)
    expect(chunks.map((c) => c.rowIndex)).toEqual([
      [0, 1, 2, 4],
      [5, 6]
    ])
    expect(nestedRow(chunks[1]!.inputs[UNNAMED]!, 1)).toEqual([6, 6, 6, 6])
  })
})
