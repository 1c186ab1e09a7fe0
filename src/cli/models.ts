// `modelbus update` and `modelbus models list|history|rollback|push|describe`: versions in the registry,
// with upload progress on stderr and one line per result on stdout; a serving model's inputs and outputs.
import { readFile } from "node:fs/promises"
import { Console, Effect } from "effect"
import type { UpdateResult } from "../client/update.js"
import { BadInput } from "../protocol/errors.js"
import type { ModelMetadata } from "../protocol/metadata.js"
import { messageOf } from "../protocol/values.js"
import type { ModelVersion } from "../registry/versions.js"
import { type Connection, withClient } from "./client.js"
import { decodeFitFile } from "./fitFile.js"

/** Upload progress as a line rewritten in place on stderr. */
const progress = (sent: number, total: number) => {
  const pct = total === 0 ? 100 : Math.floor((sent / total) * 100)
  process.stderr.write(
    `\ruploading ${(sent / 1024).toFixed(0)} / ${(total / 1024).toFixed(0)} KiB (${pct}%)${sent >= total ? "\n" : ""}`
  )
}

const resultLine = (r: UpdateResult) =>
  `${r.model} v${r.version}: ${r.acked.length} replica(s) serving it in ${r.rolloutMs} ms` +
  (r.pending.length > 0 ? `; not yet: ${r.pending.join(", ")}` : "") +
  (r.loss === undefined ? "" : `; loss per epoch ${r.loss.map((l) => l.toFixed(4)).join(" → ")}`)

const versionLine = (v: ModelVersion) =>
  `v${v.version}  ${v.createdAt}  ${v.format}  ${(v.size / 1024).toFixed(1)} KiB  ${v.digest.slice(0, 19)}…  ${v.source}${v.force ? "  (forced)" : ""}`

/** The training body of `--fit FILE`, checked against the fit wire schema. */
const readFit = (file: string) =>
  Effect.tryPromise({
    try: () => readFile(file, "utf8"),
    catch: (cause) => new BadInput({ message: `--fit ${file}: cannot read it: ${messageOf(cause)}` })
  }).pipe(Effect.flatMap((text) => decodeFitFile(file, text)))

export const update = (
  c: Connection,
  model: string,
  path: string | undefined,
  fitFile: string | undefined,
  force: boolean,
  timeoutMs: number
) =>
  Effect.gen(function* () {
    if ((path === undefined) === (fitFile === undefined))
      return yield* new BadInput({ message: "give exactly one of --path DIR or --fit FILE" })
    const source = path !== undefined ? { path } : { fit: yield* readFit(fitFile!) }
    const result = yield* withClient(c, (client) =>
      client.updateModel(model, source, { force, timeoutMs, onProgress: progress })
    )
    yield* Console.log(resultLine(result))
  })

export const list = (c: Connection) =>
  withClient(c, (client) => client.listModels).pipe(
    Effect.flatMap((rows) =>
      Console.log(
        rows.length === 0
          ? "no model in the registry"
          : rows.map((r) => `${r.model}  ${versionLine(r.current)}`).join("\n")
      )
    )
  )

export const history = (c: Connection, model: string) =>
  withClient(c, (client) => client.modelHistory(model)).pipe(
    Effect.flatMap((versions) =>
      Console.log(versions.length === 0 ? `no versions of ${model}` : versions.map(versionLine).join("\n"))
    )
  )

export const rollback = (c: Connection, model: string, to: number | undefined, timeoutMs: number) =>
  withClient(c, (client) => client.rollbackModel(model, to, { timeoutMs })).pipe(
    Effect.flatMap((r) => Console.log(resultLine(r)))
  )

export const push = (c: Connection, model: string, path: string, force: boolean) =>
  withClient(c, (client) => client.pushModel(model, path, { force, onProgress: progress })).pipe(
    Effect.flatMap((v) => Console.log(`${model} ${versionLine(v)}`))
  )

const shapeText = (shape: ReadonlyArray<number | null>) => `[${shape.map((d) => (d === null ? "?" : d)).join(", ")}]`

/** A model's metadata as text: who answered, then one row per input and output, columns aligned (pure). */
export const renderMetadata = (m: ModelMetadata): string => {
  const rows = [
    ["KIND", "NAME", "DTYPE", "SHAPE"],
    ...m.inputs.map((t) => ["input", t.name, t.dtype, shapeText(t.shape)]),
    ...m.outputs.map((t) => ["output", t.name, t.dtype, shapeText(t.shape)])
  ]
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)))
  const table = rows.map((r) => r.map((cell, i) => (i === r.length - 1 ? cell : cell.padEnd(widths[i]!))).join("  "))
  const answeredBy = m.supervisor === "" ? m.actor : `${m.actor} (supervisor ${m.supervisor})`
  return [
    `model    ${m.name}`,
    `version  ${m.version}`,
    `format   ${m.format}`,
    `backend  ${m.backend}`,
    `actor    ${answeredBy}`,
    "",
    ...table
  ].join("\n")
}

export const describeModel = (c: Connection, model: string, json: boolean) =>
  withClient(c, (client) => client.describe(model)).pipe(
    Effect.flatMap((m) => Console.log(json ? JSON.stringify(m, null, 2) : renderMetadata(m)))
  )
