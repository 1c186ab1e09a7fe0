// The README's client programs run as written against a live Iris replica (TypeScript, Python, Go), and the examples in
// other languages: examples/go (nats.go from Debian's packages, built offline), examples/python (nats-py, msgpack, numpy)
// and docs/batch-jobs.md's Python batch job.
import { execFile } from "node:child_process"
import { mkdtemp, readFile, writeFile } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { promisify } from "node:util"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import type { HostTensor } from "../../src/client/index.js"
import { IRIS_MODEL, ROOT, runCli } from "../helpers/processes.js"
import { type Stack, startStack } from "../helpers/stack.js"

const run = promisify(execFile)

interface Ran {
  readonly code: number
  readonly stdout: string
  readonly stderr: string
}

/** Runs a program to its end; a non-zero exit is a result, not a failure. */
const runProgram = async (file: string, args: ReadonlyArray<string>, options: { cwd?: string; env: object }) => {
  try {
    const { stdout, stderr } = await run(file, args, { ...options, env: { ...process.env, ...options.env } })
    return { code: 0, stdout, stderr } satisfies Ran
  } catch (error) {
    const failed = error as { code?: unknown; stdout?: string; stderr?: string; message: string }
    if (typeof failed.code !== "number") throw error
    return { code: failed.code, stdout: failed.stdout ?? "", stderr: failed.stderr ?? "" } satisfies Ran
  }
}

/** The one fenced block of this language in README.md (or another document of the repository). */
const readmeBlock = async (language: string, document = "README.md"): Promise<string> => {
  const blocks = [...(await readFile(join(ROOT, document), "utf8")).matchAll(/^```(\w+)\n([\s\S]*?)^```$/gm)]
  const found = blocks.filter((b) => b[1] === language)
  if (found.length !== 1) throw new Error(`${document} has ${found.length} \`\`\`${language} blocks, expected 1`)
  return found[0]![2]!
}

/** Iris's class (0 setosa, 1 versicolor, 2 virginica) of each row of a [rows, 3] output. */
const classes = (data: ReadonlyArray<number>) =>
  Array.from({ length: data.length / 3 }, (_, row) => {
    const p = data.slice(row * 3, row * 3 + 3)
    return p.indexOf(Math.max(...p))
  })

let stack: Stack

beforeAll(async () => {
  stack = await startStack({ models: [{ name: "iris", path: IRIS_MODEL, replicas: 1 }] })
})

afterAll(async () => {
  expect((await stack?.stop())?.code).toBe(0)
})

describe("TypeScript, with the Promise client", () => {
  it("the README's TypeScript program is examples/clients/quick-start.ts, and it gets Iris's prediction", async () => {
    const file = join(ROOT, "examples/clients/quick-start.ts")
    expect(await readFile(file, "utf8")).toContain(await readmeBlock("ts"))
    const ran = await runProgram(join(ROOT, "node_modules/.bin/tsx"), [file], { env: { NATS_URL: stack.nats.url } })
    expect(ran).toMatchObject({ code: 0, stderr: "" })
    expect(ran.stdout).toMatch(/shape: \[ 1, 3 \][\s\S]* 1 iris-1@\w+\n$/)
  })
})

describe("Go, with nats.go from Debian's packages (golang-github-nats-io-go-nats-dev), offline", () => {
  /** GOPATH mode over Debian's Go sources: no module proxy, no download. */
  const goEnv = {
    GO111MODULE: "off",
    GOPATH: "/usr/share/gocode",
    GOFLAGS: "",
    GOPROXY: "off",
    GOCACHE: join(tmpdir(), "modelbus-go-build-cache")
  }
  const build = async (dir: string, output: string) => {
    const built = await runProgram("go", ["build", "-o", output, "."], { cwd: dir, env: goEnv }).catch(
      (error: NodeJS.ErrnoException) => {
        if (error.code === "ENOENT")
          throw new Error(
            "go is not on PATH: install Debian's golang and golang-github-nats-io-go-nats-dev (.ci/run does)"
          )
        throw error
      }
    )
    if (built.code !== 0) throw new Error(`go build in ${dir} exited ${built.code}:\n${built.stderr}`)
  }
  let bin: string

  beforeAll(async () => {
    bin = join(await mkdtemp(join(tmpdir(), "modelbus-go-")), "client")
    await build(join(ROOT, "examples/go"), bin)
  })

  it("the README's Go program, as written, gets Iris's prediction", async () => {
    const dir = await mkdtemp(join(tmpdir(), "modelbus-readme-go-"))
    await writeFile(join(dir, "main.go"), await readmeBlock("go"))
    await build(dir, join(dir, "readme"))
    const ran = await runProgram(join(dir, "readme"), [], { env: { NATS_URL: stack.nats.url } })
    expect(ran.code).toBe(0)
    const [code, body] = [ran.stdout.slice(0, ran.stdout.indexOf(" ")), ran.stdout.slice(ran.stdout.indexOf(" ") + 1)]
    expect(code).toBe("") // no Nats-Service-Error-Code: not refused
    const reply = JSON.parse(body)
    expect(reply).toMatchObject({ model: "iris", version: 1, outputs: { dtype: "float32", shape: [1, 3] } })
    expect(classes(reply.outputs.data)).toEqual([0])
  })

  it("examples/go prints the reply of each row as JSON", async () => {
    const ran = await runProgram(bin, ["-s", stack.nats.url, "-input", "[[5.1,3.5,1.4,0.2],[6.7,3.0,5.2,2.3]]"], {
      env: {}
    })
    expect(ran).toMatchObject({ code: 0, stderr: "" })
    const reply = JSON.parse(ran.stdout)
    expect(reply).toMatchObject({ model: "iris", version: 1, outputs: { dtype: "float32", shape: [2, 3] } })
    expect(reply.actor).toMatch(/^iris-1@/)
    expect(classes(reply.outputs.data)).toEqual([0, 2])
  })

  it("examples/go takes the server from $NATS_URL and prints a refusal as its code, tag and message", async () => {
    const ran = await runProgram(bin, ["-input", "[[5.1,3.5,1.4]]"], { env: { NATS_URL: stack.nats.url } })
    expect(ran).toEqual({
      code: 1,
      stdout: "",
      stderr: '400 BadInput: input "measurements": expected shape [?, 4], received [1, 3]\n'
    })
  })

  it("examples/go says NoResponders for a model nobody serves", async () => {
    const ran = await runProgram(bin, ["-s", stack.nats.url, "-model", "nobody"], { env: {} })
    expect(ran).toEqual({ code: 1, stdout: "", stderr: "NoResponders: no replica is serving modelbus.infer.nobody\n" })
  })
})

describe("Python, with nats-py, msgpack and numpy", () => {
  const python = process.env.PYTHON ?? "python3"
  let missing: string | undefined

  beforeAll(async () => {
    const probe = await runProgram(python, ["-c", "import nats, msgpack, numpy"], { env: {} }).catch(
      (error: Error) => ({ code: -1, stdout: "", stderr: error.message })
    )
    if (probe.code !== 0) {
      const why = probe.stderr.trim().split("\n").at(-1)
      missing = `${python} cannot import nats (nats-py), msgpack and numpy (${why}); pip install nats-py msgpack numpy`
      console.log(`skipping the Python example clients: ${missing}`)
    }
  })

  it("the README's Python program, as written, gets Iris's predictions", async (context) => {
    if (missing !== undefined) context.skip(missing)
    const dir = await mkdtemp(join(tmpdir(), "modelbus-readme-py-"))
    await writeFile(join(dir, "infer.py"), await readmeBlock("python"))
    const ran = await runProgram(python, [join(dir, "infer.py")], { env: { NATS_URL: stack.nats.url } })
    expect(ran).toMatchObject({ code: 0, stderr: "" })
    expect(ran.stdout).toMatch(/^\[0 2\] 1 iris-1@\w+\n$/)
  })

  it("docs/batch-jobs.md's Python program, as written, runs a batch job and reads its outputs", async (context) => {
    if (missing !== undefined) context.skip(missing)
    // the program expects the streams and the model's consumer a first `modelbus batch submit` makes
    const dir = await mkdtemp(join(tmpdir(), "modelbus-batch-py-"))
    await writeFile(join(dir, "rows.jsonl"), "[5.1, 3.5, 1.4, 0.2]\n")
    const first = await runCli([
      "batch",
      "submit",
      "iris",
      "--input",
      join(dir, "rows.jsonl"),
      "--server",
      stack.nats.url
    ])
    expect(first.code).toBe(0)
    await writeFile(join(dir, "batch.py"), await readmeBlock("python", "docs/batch-jobs.md"))
    const ran = await runProgram(python, [join(dir, "batch.py")], { env: { NATS_URL: stack.nats.url } })
    expect(ran).toMatchObject({ code: 0, stderr: "" })
    const printed = JSON.parse(ran.stdout.replaceAll("'", '"')) as { data: ReadonlyArray<number> }
    const direct = await stack.client.infer("iris", [
      [5.1, 3.5, 1.4, 0.2],
      [6.7, 3.0, 5.2, 2.3]
    ])
    expect(classes(printed.data)).toEqual(classes(Array.from((direct.outputs as HostTensor).data as Float32Array)))
    expect(classes(printed.data)).toEqual([0, 2])
  })

  it("examples/python sends numpy arrays as raw bytes and reads a refusal", async (context) => {
    if (missing !== undefined) context.skip(missing)
    const ran = await runProgram(python, [join(ROOT, "examples/python/infer.py")], {
      env: { NATS_URL: stack.nats.url }
    })
    expect(ran.code).toBe(0)
    expect(ran.stdout).toMatch(/^species: \[0, 2\] version 1 from iris-1@\w+\n$/)
    expect(ran.stderr).toBe('refused: 400 BadInput: input "measurements": expected shape [?, 4], received [1, 3]\n')
  })
})
