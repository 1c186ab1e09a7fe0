// After tsc, bundles the two programs that start often (the `modelbus` command and the actor process)
// over their tsc output in dist/: one file each plus shared chunks loaded on demand, so they start fast.
//
// Loading a few hundred ES modules (effect alone is ~200) costs a Node process most of its start;
// one bundle parses in a fraction of that. Dynamic imports stay lazy (each a chunk in dist/chunks/),
// so `modelbus --help` loads no command's code and only commands that need it load TensorFlow.js,
// which stays outside the bundle with the native and optional packages. A module that uses
// `import.meta.url` gets the URL of its own tsc output, so paths next to it resolve as before.
import { chmod, readFile, rm, writeFile } from "node:fs/promises"
import { join, relative, resolve, sep } from "node:path"
import { build, type Plugin } from "esbuild"

const ROOT = resolve(import.meta.dirname, "..")
const SRC = join(ROOT, "src")
const DIST = join(ROOT, "dist")
const CHUNKS = "chunks"

/** Packages left to Node's resolution at run time: TensorFlow.js and ONNX Runtime (large, lazily imported) and native addons. */
const EXTERNAL = ["@tensorflow/*", "msgpackr-extract", "onnxruntime-node", "onnxruntime-common"]

/** CommonJS dependencies inside an ES module bundle need a `require` (ws asks for "events"). */
const BANNER =
  'import { createRequire as __modelbusRequire } from "node:module";\nconst require = __modelbusRequire(import.meta.url);'

/**
 * `import.meta.url` of a source module, as the URL of its tsc output: every bundle file sits one
 * folder below dist/ (cli/, actors/, chunks/), so `../<path in dist>` from there is that file.
 */
const ownModuleUrl: Plugin = {
  name: "own-module-url",
  setup(b) {
    b.onLoad({ filter: /\.ts$/ }, async (args) => {
      if (!args.path.startsWith(SRC + sep)) return undefined
      const source = await readFile(args.path, "utf8")
      if (!source.includes("import.meta.url")) return { contents: source, loader: "ts" }
      const compiled = relative(SRC, args.path).split(sep).join("/").replace(/\.ts$/, ".js")
      const url = `new URL(${JSON.stringify(`../${compiled}`)}, import.meta.url).href`
      return { contents: source.replaceAll("import.meta.url", url), loader: "ts" }
    })
  }
}

const main = async () => {
  await rm(join(DIST, CHUNKS), { recursive: true, force: true })
  const result = await build({
    entryPoints: { "cli/main": join(SRC, "cli/main.ts"), "actors/main": join(SRC, "actors/main.ts") },
    outdir: DIST,
    chunkNames: `${CHUNKS}/[name]-[hash]`,
    bundle: true,
    splitting: true,
    format: "esm",
    platform: "node",
    target: "node20",
    external: EXTERNAL,
    banner: { js: BANNER },
    plugins: [ownModuleUrl],
    sourcemap: "linked",
    minifySyntax: true,
    minifyWhitespace: true,
    legalComments: "linked",
    metafile: true,
    logLevel: "warning"
  })
  // BUNDLE_META=FILE keeps esbuild's metafile: which modules each chunk holds and what imports it
  if (process.env.BUNDLE_META) await writeFile(process.env.BUNDLE_META, JSON.stringify(result.metafile))
  const outputs = Object.keys(result.metafile.outputs).filter((file) => file.endsWith(".js"))
  const misplaced = outputs.filter((file) => relative(DIST, resolve(ROOT, file)).split(sep).length !== 2)
  if (misplaced.length > 0) throw new Error(`bundle files must sit one folder below dist/: ${misplaced.join(", ")}`)
  // the `bin` of package.json: esbuild writes a new file, so npx and a linked `modelbus` need the bit set again
  await chmod(join(DIST, "cli/main.js"), 0o755)
  const bytes = outputs.reduce((sum, file) => sum + result.metafile.outputs[file]!.bytes, 0)
  console.log(
    `bundled dist/cli/main.js and dist/actors/main.js: ${outputs.length} files, ${(bytes / 1024).toFixed(0)} KiB`
  )
}

await main()
