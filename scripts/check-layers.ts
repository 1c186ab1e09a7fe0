// Fails when the folders of src/ stop forming the layered DAG of ARCHITECTURE.md: every import must
// point to a lower layer (or stay in its folder); prints each offending import and any folder cycle.
import { readdirSync, readFileSync } from "node:fs"
import { dirname, join, relative, resolve, sep } from "node:path"
import ts from "typescript"

/** Lowest first. A folder may import its own files and folders of lower layers only. */
const LAYERS: ReadonlyArray<ReadonlyArray<string>> = [
  ["protocol"],
  ["model", "nats", "lifecycle", "datasets"],
  ["registry"],
  ["actors", "supervisor", "client"],
  ["cli"]
]

const SRC = resolve(import.meta.dirname, "../src")

const rankOf = new Map(LAYERS.flatMap((folders, rank) => folders.map((folder) => [folder, rank] as const)))

const sourceFiles = (dir: string): Array<string> =>
  readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name)
    if (entry.isDirectory()) return sourceFiles(path)
    return entry.name.endsWith(".ts") ? [path] : []
  })

const folderOf = (file: string): string => relative(SRC, file).split(sep)[0] ?? ""

interface Edge {
  readonly from: string
  readonly to: string
  readonly file: string
  readonly specifier: string
}

const edges: Array<Edge> = []
for (const file of sourceFiles(SRC)) {
  const { importedFiles } = ts.preProcessFile(readFileSync(file, "utf8"), true, true)
  for (const { fileName: specifier } of importedFiles) {
    if (!specifier.startsWith(".")) continue
    const target = resolve(dirname(file), specifier)
    const from = folderOf(file)
    const to = folderOf(target)
    if (from !== to) edges.push({ from, to, file: relative(SRC, file), specifier })
  }
}

const problems: Array<string> = []
const folders = new Set(edges.flatMap((e) => [e.from, e.to]))
for (const folder of folders) {
  if (!rankOf.has(folder)) problems.push(`src/${folder}/ has no layer: add it to LAYERS in scripts/check-layers.ts`)
}
for (const edge of edges) {
  const from = rankOf.get(edge.from)
  const to = rankOf.get(edge.to)
  if (from === undefined || to === undefined || to < from) continue
  const why = to === from ? "in the same layer as" : "in a higher layer than"
  problems.push(`src/${edge.file} imports ${edge.specifier}: ${edge.to}/ is ${why} ${edge.from}/`)
}

// Cycles between folders, whatever the layers say (Tarjan's strongly connected components).
const next = new Map<string, Set<string>>()
for (const edge of edges) next.set(edge.from, (next.get(edge.from) ?? new Set()).add(edge.to))
const index = new Map<string, number>()
const low = new Map<string, number>()
const stack: Array<string> = []
const onStack = new Set<string>()
const visit = (node: string) => {
  index.set(node, index.size)
  low.set(node, index.get(node)!)
  stack.push(node)
  onStack.add(node)
  for (const to of next.get(node) ?? []) {
    if (!index.has(to)) {
      visit(to)
      low.set(node, Math.min(low.get(node)!, low.get(to)!))
    } else if (onStack.has(to)) low.set(node, Math.min(low.get(node)!, index.get(to)!))
  }
  if (low.get(node) !== index.get(node)) return
  const component: Array<string> = []
  for (let top = stack.pop(); top !== undefined; top = stack.pop()) {
    onStack.delete(top)
    component.push(top)
    if (top === node) break
  }
  if (component.length > 1) problems.push(`folder cycle: ${component.sort().join(" ↔ ")}`)
}
for (const folder of folders) if (!index.has(folder)) visit(folder)

if (problems.length > 0) {
  console.error(`layers: ${problems.length} problem(s)\n${problems.map((p) => `  ${p}`).join("\n")}`)
  process.exit(1)
}
console.log(`layers: ${folders.size} folders, ${edges.length} cross-folder imports, no cycle, every import points down`)
