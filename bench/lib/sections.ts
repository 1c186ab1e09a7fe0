// BENCHMARKS.md as a main report plus named sections that separate benches write on their own
// (`<!-- bench:ID -->` … `<!-- /bench:ID -->`): one bench rewrites its section and keeps the others.
import { readFile, writeFile } from "node:fs/promises"
import { join } from "node:path"
import { ROOT } from "./paths.js"

export const BENCHMARKS_FILE = join(ROOT, "BENCHMARKS.md")

const open = (id: string) => `<!-- bench:${id} -->`
const close = (id: string) => `<!-- /bench:${id} -->`
const SECTION = /<!-- bench:([\w-]+) -->\n[\s\S]*?<!-- \/bench:\1 -->\n?/g

/** Every section of a report, by id, in the order they appear (pure). */
export const sectionsOf = (text: string): ReadonlyArray<{ readonly id: string; readonly text: string }> =>
  [...text.matchAll(SECTION)].map((m) => ({ id: m[1]!, text: m[0].endsWith("\n") ? m[0] : `${m[0]}\n` }))

/** `text` with section `id` set to `body`: replaced where it is, else appended at the end (pure). */
export const replaceSection = (text: string, id: string, body: string): string => {
  const block = `${open(id)}\n${body.trimEnd()}\n${close(id)}\n`
  const existing = sectionsOf(text).find((s) => s.id === id)
  if (existing !== undefined) return text.replace(existing.text, () => block)
  return `${text.trimEnd()}\n\n${block}`
}

/** A new main report followed by the sections the old file had (pure). */
export const keepSections = (main: string, old: string): string =>
  sectionsOf(old).reduce((text, s) => `${text.trimEnd()}\n\n${s.text}`, main)

const readOrEmpty = (file: string) => readFile(file, "utf8").catch(() => "# Benchmarks\n")

/** Writes section `id` of BENCHMARKS.md, leaving the rest of the file as it is. */
export const writeSection = async (id: string, body: string, file = BENCHMARKS_FILE): Promise<string> => {
  await writeFile(file, replaceSection(await readOrEmpty(file), id, body))
  return file
}

/** Writes the main report of BENCHMARKS.md, keeping the sections other benches wrote. */
export const writeMain = async (main: string, file = BENCHMARKS_FILE): Promise<string> => {
  await writeFile(file, keepSections(main, await readOrEmpty(file)))
  return file
}
