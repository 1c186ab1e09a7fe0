// `modelbus update` and `modelbus models list|history|rollback|push|describe`: versions in the registry,
// progress on stderr, the result on stdout as text or JSON (--json); a serving model's inputs and outputs.
import { readFile } from "node:fs/promises"
import * as Effect from "effect/Effect"
import type { UpdateResult } from "../client/update.js"
import { BadInput } from "../protocol/errors.js"
import type { FitProgress } from "../protocol/fit.js"
import type { ModelMetadata } from "../protocol/metadata.js"
import { messageOf } from "../protocol/values.js"
import type { ModelVersion } from "../registry/versions.js"
import { type Connection, withClient } from "./client.js"
import { decodeFitFile, withNpyArrays } from "./fitFile.js"
import { printResult } from "./output.js"
import { epochLine, uploadProgress } from "./progress.js"

const toStderr = (text: string) => void process.stderr.write(text)

/** Upload progress on stderr: redrawn in place on a terminal, one line per quarter otherwise. */
const uploadReporter = () => uploadProgress(process.stderr.isTTY === true, toStderr)

/** Each epoch of a fit on stderr as the training replica reports it. */
const reportEpoch = (p: FitProgress) => toStderr(`${epochLine(p)}\n`)

export const resultLine = (r: UpdateResult) =>
  `${r.model} v${r.version}: ${r.acked.length} replica(s) serving it in ${r.rolloutMs} ms` +
  (r.pending.length > 0 ? `; not yet: ${r.pending.join(", ")}` : "") +
  (r.loss === undefined ? "" : `; loss per epoch ${r.loss.map((l) => l.toFixed(4)).join(" → ")}`)

export const versionLine = (v: ModelVersion) =>
  `v${v.version}  ${v.createdAt}  ${v.format}  ${(v.size / 1024).toFixed(1)} KiB  ${v.digest.slice(0, 19)}…  ${v.source}${v.force ? "  (forced)" : ""}`

/** The training body of `--fit FILE`, checked against the fit wire schema. */
const readFit = (file: string) =>
  Effect.tryPromise({
    try: () => readFile(file, "utf8"),
    catch: (cause) => new BadInput({ message: `--fit ${file}: cannot read it: ${messageOf(cause)}` })
  }).pipe(
    Effect.flatMap((text) => decodeFitFile(file, text)),
    Effect.flatMap((body) => withNpyArrays(file, body, (path) => readFile(path)))
  )

export const update = (
  c: Connection,
  model: string,
  source: { readonly path: string | undefined; readonly fit: string | undefined },
  options: { readonly force: boolean; readonly timeoutMs: number; readonly json: boolean }
) =>
  Effect.gen(function* () {
    const { path, fit } = source
    if ((path === undefined) === (fit === undefined))
      return yield* new BadInput({ message: "give exactly one of --path DIR or --fit FILE" })
    const from = path !== undefined ? { path } : { fit: yield* readFit(fit!) }
    const result = yield* withClient(c, (client) =>
      client.updateModel(model, from, {
        force: options.force,
        timeoutMs: options.timeoutMs,
        onProgress: uploadReporter(),
        onEpoch: reportEpoch
      })
    )
    yield* printResult(options.json, result, resultLine)
  })

export const list = (c: Connection, json: boolean) =>
  withClient(c, (client) => client.listModels).pipe(
    Effect.flatMap((models) =>
      printResult(json, { models }, ({ models }) =>
        models.length === 0
          ? "no model in the registry"
          : models.map((r) => `${r.model}  ${versionLine(r.current)}`).join("\n")
      )
    )
  )

export const history = (c: Connection, model: string, json: boolean) =>
  withClient(c, (client) => client.modelHistory(model)).pipe(
    Effect.flatMap((versions) =>
      printResult(json, { model, versions }, ({ versions }) => versions.map(versionLine).join("\n"))
    )
  )

export const rollback = (c: Connection, model: string, to: number | undefined, timeoutMs: number, json: boolean) =>
  withClient(c, (client) => client.rollbackModel(model, to, { timeoutMs })).pipe(
    Effect.flatMap((r) => printResult(json, r, resultLine))
  )

export const push = (c: Connection, model: string, path: string, force: boolean, json: boolean) =>
  withClient(c, (client) => client.pushModel(model, path, { force, onProgress: uploadReporter() })).pipe(
    Effect.flatMap((v) => printResult(json, { model, ...v }, ({ model, ...v }) => `${model} ${versionLine(v)}`))
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
  withClient(c, (client) => client.describe(model)).pipe(Effect.flatMap((m) => printResult(json, m, renderMetadata)))
