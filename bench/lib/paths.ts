// Where things are: the project root, the built package (dist/) the bench runs as a user would,
// and typed dynamic imports of dist modules (typed from src, so the type check needs no build).
import { join, resolve } from "node:path"
import { pathToFileURL } from "node:url"

export const ROOT = resolve(import.meta.dirname, "../..")
export const IRIS_MODEL_DIR = join(ROOT, "examples/iris/model")
export const CNN_MODEL_DIR = join(ROOT, "bench/models/cnn")
export const RESULTS_DIR = join(ROOT, "bench/results")

const distUrl = (file: string) => pathToFileURL(join(ROOT, "dist", file)).href

/** The built modules of modelbus, imported from dist/ at run time. */
export const dist = {
  client: () => import(distUrl("client/index.js")) as Promise<typeof import("../../src/client/index.js")>,
  codec: () => import(distUrl("protocol/codec.js")) as Promise<typeof import("../../src/protocol/codec.js")>,
  runtime: () => import(distUrl("model/runtime.js")) as Promise<typeof import("../../src/model/runtime.js")>,
  loader: () => import(distUrl("model/loader.js")) as Promise<typeof import("../../src/model/loader.js")>,
  signature: () => import(distUrl("model/signature.js")) as Promise<typeof import("../../src/model/signature.js")>,
  natsServer: () => import(distUrl("cli/natsServer.js")) as Promise<typeof import("../../src/cli/natsServer.js")>,
  subjects: () => import(distUrl("protocol/subjects.js")) as Promise<typeof import("../../src/protocol/subjects.js")>,
  files: () => import(distUrl("model/files.js")) as Promise<typeof import("../../src/model/files.js")>
}
