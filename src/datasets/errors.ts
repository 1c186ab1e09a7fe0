// The typed error of a dataset file that cannot be read: one line naming the file and the line or row,
// what was expected there and what arrived.
import * as Schema from "effect/Schema"

/** A dataset (`.npy`, `.jsonl`) that cannot be read or does not fit the model. */
export class BadDataset extends Schema.TaggedError<BadDataset>()("BadDataset", {
  message: Schema.String,
  file: Schema.String,
  /** 1-based line of a `.jsonl` file, when the problem is on one line. */
  line: Schema.optional(Schema.Number)
}) {}

/** A BadDataset about the whole file: `file: message`. */
export const badFile = (file: string, message: string) => new BadDataset({ message: `${file}: ${message}`, file })

/** A BadDataset for a file that cannot be opened or read (`cause`: the file system's error). */
export const unreadable = (file: string, cause: unknown): BadDataset => {
  const code = (cause as { code?: string }).code
  return badFile(file, code === "ENOENT" ? "no such file" : `cannot read it (${code ?? String(cause)})`)
}

/** A BadDataset about one line of a text file: `file:line: message`. */
export const badLine = (file: string, line: number, message: string) =>
  new BadDataset({ message: `${file}:${line}: ${message}`, file, line })
