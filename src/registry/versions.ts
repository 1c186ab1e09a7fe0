// What the registry records for each model version, and the pure rules over versions:
// signature compatibility between the serving version and a new one, and which versions to keep.
import type { ModelSignature, TensorSpec } from "../model/specs.js"

export interface ModelVersion {
  readonly version: number
  /** `sha256:<hex>` of the artifact bundle. */
  readonly digest: string
  readonly format: "layers" | "graph"
  readonly signature: ModelSignature
  readonly createdAt: string
  /** Where it came from: `path:<dir>`, `fit:<actor>`, `rollback:<version>`. */
  readonly source: string
  /** Bundle size in bytes. */
  readonly size: number
  /** Accepted even though its signature differs from the version before it. */
  readonly force?: boolean
}

const specText = (s: TensorSpec) => `${s.name} ${s.dtype}[${s.shape.map((d) => (d === null ? "?" : d)).join(",")}]`

const sameSpecs = (a: ReadonlyArray<TensorSpec>, b: ReadonlyArray<TensorSpec>, withShapes: boolean) =>
  a.length === b.length &&
  a.every((x) => {
    const y = b.find((s) => s.name === x.name)
    return (
      y !== undefined &&
      y.dtype === x.dtype &&
      (!withShapes || (y.shape.length === x.shape.length && y.shape.every((d, i) => d === x.shape[i])))
    )
  })

/** Why `next` cannot replace `serving` for the same callers, or undefined when it can. */
export const signatureMismatch = (serving: ModelSignature, next: ModelSignature): string | undefined => {
  if (!sameSpecs(serving.inputs, next.inputs, true)) {
    return `inputs differ: serving ${serving.inputs.map(specText).join(", ")}; new ${next.inputs.map(specText).join(", ")}`
  }
  if (!sameSpecs(serving.outputs, next.outputs, false)) {
    return `outputs differ: serving ${serving.outputs.map(specText).join(", ")}; new ${next.outputs.map(specText).join(", ")}`
  }
  return undefined
}

/** Digests of artifacts no kept version refers to (safe to delete). */
export const unreferencedDigests = (
  kept: ReadonlyArray<ModelVersion>,
  stored: ReadonlyArray<string>
): ReadonlyArray<string> => {
  const live = new Set(kept.map((v) => v.digest))
  return stored.filter((d) => !live.has(d))
}
