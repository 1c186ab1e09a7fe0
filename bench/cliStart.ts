// How fast `modelbus --help`, `modelbus status --json` and an actor start, alone or against a baseline
// build (interleaved rounds); --write-md replaces the "CLI start" section of BENCHMARKS.md.
//   npm run build && npx tsx bench/cliStart.ts [--rounds=15] [--baseline=/path/to/old/dist [--baseline-label=main]] [--no-actor] [--write-md]
// A baseline dist/ needs node_modules/ (a symlink will do), package.json and examples/ beside it, as in a checkout.
import { join, resolve } from "node:path"
import { killAllNow, stopAll } from "./lib/children.js"
import { type Build, cliStartSection, cliStartTable, measureCliStart } from "./lib/cliStart.js"
import { dist, ROOT } from "./lib/paths.js"
import { writeSection } from "./lib/sections.js"

const args = process.argv.slice(2)
const option = (name: string) => args.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3)
const rounds = Number(option("rounds") ?? 15)
const baseline = option("baseline")

process.on("exit", () => killAllNow())
let stopNats: () => Promise<void> = async () => {}
for (const signal of ["SIGINT", "SIGTERM"] as const)
  process.once(signal, () => void Promise.all([stopAll(), stopNats()]).finally(() => process.exit(130)))

const main = async () => {
  const builds: ReadonlyArray<Build> = [
    { label: "this build", dist: join(ROOT, "dist") },
    ...(baseline === undefined ? [] : [{ label: option("baseline-label") ?? "baseline", dist: resolve(baseline) }])
  ]
  const { startLocalNatsServer } = await dist.natsServer()
  const nats = await startLocalNatsServer()
  stopNats = nats.stop
  try {
    const results = await measureCliStart({
      natsUrl: nats.url,
      builds,
      rounds,
      actor: !args.includes("--no-actor"),
      log: (line) => console.log(line)
    })
    console.log(cliStartTable(results))
    if (args.includes("--write-md")) {
      console.log(`wrote the CLI start section of ${await writeSection("cli-start", cliStartSection(results))}`)
    }
  } finally {
    await stopAll()
    await nats.stop()
  }
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(error)
    process.exit(1)
  }
)
