// Copies of the Iris example model with the same signature and other weights, written to temp folders:
// scaled (a good candidate whose outputs differ a little) and class-permuted (finite but wrong answers).
import { copyFile, mkdtemp, readFile, writeFile } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { IRIS_MODEL } from "./processes.js"

const weightsOf = async () => new Float32Array(new Uint8Array(await readFile(join(IRIS_MODEL, "weights.bin"))).buffer)

const write = async (prefix: string, weights: Float32Array) => {
  const dir = await mkdtemp(join(tmpdir(), prefix))
  await copyFile(join(IRIS_MODEL, "model.json"), join(dir, "model.json"))
  await writeFile(join(dir, "weights.bin"), new Uint8Array(weights.buffer))
  return dir
}

/** Every weight times `factor`. */
export const scaledIris = async (factor: number): Promise<string> =>
  write(
    "modelbus-scaled-",
    (await weightsOf()).map((w) => w * factor)
  )

/**
 * The output layer's three classes rotated (class c answers what c + 1 did): every output finite,
 * every argmax moved. Manifest order: hidden/kernel [4,16], hidden/bias [16], species/kernel [16,3], species/bias [3].
 */
export const permutedIris = async (): Promise<string> => {
  const w = await weightsOf()
  const out = Float32Array.from(w)
  for (let row = 0; row < 16; row++)
    for (let c = 0; c < 3; c++) out[80 + row * 3 + c] = w[80 + row * 3 + ((c + 1) % 3)]!
  for (let c = 0; c < 3; c++) out[128 + c] = w[128 + ((c + 1) % 3)]!
  return write("modelbus-permuted-", out)
}
