// How a command prints its result on stdout: one JSON document with --json (pretty, for people and
// `jq` alike), else the command's own text.
import * as Console from "effect/Console"

/** `value` as the JSON document `--json` prints. */
export const jsonText = (value: unknown): string => JSON.stringify(value, null, 2)

/** Prints `value` as JSON when `json`, else as `text(value)`. */
export const printResult = <A>(json: boolean, value: A, text: (value: A) => string) =>
  Console.log(json ? jsonText(value) : text(value))
