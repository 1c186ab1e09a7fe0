// The Iris measurements as train.ts and the tests read them from iris.csv: four numbers
// in cm per flower and its species as a class index (order: irisClasses).
import { readFileSync } from "node:fs"
import { fileURLToPath } from "node:url"

/** Class index → species; the order of the model's `species` output. */
export const irisClasses = ["setosa", "versicolor", "virginica"] as const

export const irisCsv = fileURLToPath(new URL("./iris.csv", import.meta.url))

export interface IrisData {
  /** [sepal_length, sepal_width, petal_length, petal_width] per flower, in cm. */
  readonly measurements: ReadonlyArray<readonly [number, number, number, number]>
  /** Index into irisClasses per flower. */
  readonly species: ReadonlyArray<number>
}

/** Parses iris.csv (header sepal_length,sepal_width,petal_length,petal_width,species). */
export const readIris = (file: string = irisCsv): IrisData => {
  const [header, ...lines] = readFileSync(file, "utf8").trim().split(/\r?\n/)
  if (header !== "sepal_length,sepal_width,petal_length,petal_width,species") {
    throw new Error(`${file}: unexpected header ${JSON.stringify(header)}`)
  }
  const measurements: Array<readonly [number, number, number, number]> = []
  const species: Array<number> = []
  lines.forEach((line, i) => {
    const cells = line.split(",")
    const numbers = cells.slice(0, 4).map(Number)
    const label = irisClasses.indexOf(cells[4] as (typeof irisClasses)[number])
    if (cells.length !== 5 || numbers.some((n) => !Number.isFinite(n)) || label < 0) {
      throw new Error(`${file}:${i + 2}: cannot read ${JSON.stringify(line)}`)
    }
    measurements.push([numbers[0]!, numbers[1]!, numbers[2]!, numbers[3]!])
    species.push(label)
  })
  return { measurements, species }
}
