// `.jsonl` datasets: one row per line, a nested array or {"inputs": nested | {"<name>": nested}}; a line
// that is not JSON fails the file (naming the line), a row that does not fit is recorded with its error.

import type { TensorMetadata } from "../protocol/metadata.js"
import { flattenNested } from "../protocol/nested.js"
import {
  type DType,
  fromNumbers,
  type HostTensor,
  holdsValue,
  jsonValues,
  NON_FINITE,
  type PlainValue,
  valuesRule
} from "../protocol/tensor.js"
import { describe } from "../protocol/values.js"
import { type BadDataset, badFile, badLine } from "./errors.js"
import { formatShape, type RowFailure, specOf, type Table, UNNAMED } from "./table.js"

interface ParsedRow {
  readonly line: number
  readonly inputs: Readonly<Record<string, unknown>>
}

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v)

/** JSON's stand-ins for NaN and ±Infinity (strings) become numbers, so a float row can carry them. */
const withNonFinite = (value: unknown): unknown =>
  Array.isArray(value)
    ? value.map(withNonFinite)
    : typeof value === "string" && NON_FINITE.has(value)
      ? Number(value)
      : value

/** Each non-blank line's inputs, or the first line that is not JSON or not a row. */
export const parseJsonlLines = (file: string, text: string): Array<ParsedRow> | BadDataset => {
  const rows: Array<ParsedRow> = []
  const lines = text.split("\n")
  for (let i = 0; i < lines.length; i++) {
    const source = lines[i]!.trim()
    if (source === "") continue
    let value: unknown
    try {
      value = JSON.parse(source)
    } catch (cause) {
      return badLine(file, i + 1, `not JSON (${cause instanceof Error ? cause.message : String(cause)})`)
    }
    if (Array.isArray(value)) rows.push({ line: i + 1, inputs: { [UNNAMED]: value } })
    else if (isRecord(value) && "inputs" in value) {
      const inputs = value.inputs
      if (Array.isArray(inputs)) rows.push({ line: i + 1, inputs: { [UNNAMED]: inputs } })
      else if (isRecord(inputs) && Object.keys(inputs).length > 0) rows.push({ line: i + 1, inputs })
      else
        return badLine(file, i + 1, `"inputs": expected a nested array or a map of them, received ${describe(inputs)}`)
    } else return badLine(file, i + 1, `expected a row: a nested array or {"inputs": …}, received ${describe(value)}`)
  }
  if (rows.length === 0) return badFile(file, "holds no row")
  return rows
}

interface Column {
  readonly dtype: DType
  /** The shape of one row; `null` dimensions are fixed by the first row read. */
  readonly rowShape: Array<number | null>
  readonly values: Array<PlainValue>
}

/** Why one input of a row does not fit its column, or undefined after appending its values. */
const appendRow = (column: Column, name: string, value: unknown): string | undefined => {
  const label = name === UNNAMED ? "the row" : `input "${name}"`
  const flat = flattenNested(withNonFinite(value))
  if (!flat.ok) return `${label}: ${flat.reason}`
  const { shape, values } = flat
  const fits = shape.length === column.rowShape.length && column.rowShape.every((d, i) => d === null || d === shape[i])
  if (!fits) return `${label}: expected shape ${formatShape(column.rowShape)}, received ${formatShape(shape)}`
  const bad = values.findIndex((v) => !holdsValue(column.dtype, v))
  if (bad >= 0) return `${label}: expected ${valuesRule(column.dtype)}, received ${values[bad]} at flat index ${bad}`
  column.rowShape.forEach((d, i) => {
    if (d === null) column.rowShape[i] = shape[i]!
  })
  for (const v of values) column.values.push(v)
  return undefined
}

/**
 * The rows of a `.jsonl` text as a table. With the model's input `specs`, each row is checked against
 * them (dtype, shape past the batch axis); without, the first row sets the shape and values are float32.
 */
export const readJsonl = (file: string, text: string, specs?: ReadonlyArray<TensorMetadata>): Table | BadDataset => {
  const parsed = parseJsonlLines(file, text)
  if (!Array.isArray(parsed)) return parsed
  const names = Object.keys(parsed[0]!.inputs)
  const columns: Record<string, Column> = {}
  for (const name of names) {
    const spec = specOf(specs, name)
    if (specs !== undefined && spec === undefined)
      return badLine(
        file,
        parsed[0]!.line,
        name === UNNAMED
          ? `one unnamed input, but the model takes ${specs.length} named inputs (${specs.map((s) => s.name).join(", ")}): write {"inputs": {"<name>": …}}`
          : `unknown input "${name}"; the model takes ${specs.map((s) => s.name).join(", ")}`
      )
    const rowShape = spec === undefined ? firstShape(parsed[0]!.inputs[name]) : spec.shape.slice(1)
    columns[name] = { dtype: spec?.dtype ?? "float32", rowShape, values: [] }
  }
  const rejected: Array<RowFailure> = []
  const index: Array<number> = []
  parsed.forEach((row, r) => {
    const keys = Object.keys(row.inputs)
    const missing = names.filter((n) => !(n in row.inputs))
    const extra = keys.filter((k) => !(k in columns))
    let problem =
      missing.length > 0 || extra.length > 0
        ? `expected inputs ${names.map((n) => `"${n}"`).join(", ")}, received ${keys.map((k) => `"${k}"`).join(", ")}`
        : undefined
    if (problem === undefined) {
      const lengths = names.map((n) => columns[n]!.values.length)
      for (const name of names) {
        problem = appendRow(columns[name]!, name, row.inputs[name])
        if (problem !== undefined) break
      }
      // a row is taken whole or not at all
      if (problem !== undefined)
        names.forEach((n, i) => {
          columns[n]!.values.length = lengths[i]!
        })
    }
    if (problem === undefined) index.push(r)
    else rejected.push({ row: r, error: { _tag: "BadInput", message: `${file}:${row.line}: ${problem}` } })
  })
  const inputs: Record<string, HostTensor> = {}
  for (const name of names) {
    const c = columns[name]!
    const rowShape = c.rowShape.map((d) => d ?? 0)
    inputs[name] = { dtype: c.dtype, shape: [index.length, ...rowShape], data: fromNumbers(c.dtype, c.values) }
  }
  return { rows: parsed.length, inputs, index: rejected.length === 0 ? undefined : index, rejected }
}

const firstShape = (value: unknown): Array<number | null> => {
  const flat = flattenNested(withNonFinite(value))
  return flat.ok ? [...flat.shape] : [null]
}

/** A tensor's row `row` as nested arrays (JSON numbers; non-finite ones as strings). */
export const nestedRow = (t: HostTensor, row: number): unknown => {
  const inner = t.shape.slice(1)
  const size = inner.reduce((n, d) => n * d, 1)
  const flat = jsonValues(t.data.subarray(row * size, (row + 1) * size))
  const nest = (from: number, axis: number): unknown => {
    if (axis === inner.length) return flat[from]
    const step = inner.slice(axis + 1).reduce((n, d) => n * d, 1)
    return Array.from({ length: inner[axis]! }, (_, i) => nest(from + i * step, axis + 1))
  }
  return nest(0, 0)
}
