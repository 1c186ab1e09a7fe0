// The machine a run measured: CPU model and cores (/proc/cpuinfo), memory, Node.js, OS, the
// TensorFlow.js backend, nats-server and package versions, and the date.
import { execFileSync } from "node:child_process"
import { readFileSync } from "node:fs"
import os from "node:os"
import { join } from "node:path"
import { ROOT } from "./paths.js"

export interface Machine {
  readonly cpu: string
  readonly cores: number
  readonly memoryGiB: number
  readonly node: string
  readonly os: string
  readonly natsServer: string
  readonly packages: Record<string, string>
  readonly date: string
}

const version = (pkg: string): string => {
  try {
    return (JSON.parse(readFileSync(join(ROOT, "node_modules", pkg, "package.json"), "utf8")) as { version: string })
      .version
  } catch {
    return "absent"
  }
}

export const describeMachine = (natsBinary = process.env.NATS_SERVER_BIN ?? "nats-server"): Machine => {
  const cpuinfo = readFileSync("/proc/cpuinfo", "utf8")
  const cpu = /^model name\s*:\s*(.+)$/m.exec(cpuinfo)?.[1]?.trim() ?? os.cpus()[0]?.model ?? "unknown"
  let natsServer = "unknown"
  try {
    natsServer = execFileSync(natsBinary, ["--version"], { encoding: "utf8", timeout: 5_000 }).trim()
  } catch {
    // not on PATH: the run fails later with a clear message
  }
  return {
    cpu,
    cores: os.availableParallelism(),
    memoryGiB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
    node: process.version,
    os: `${os.type()} ${os.release()} ${os.arch()}`,
    natsServer,
    packages: Object.fromEntries(
      [
        "@tensorflow/tfjs-core",
        "@tensorflow/tfjs-backend-wasm",
        "@tensorflow/tfjs-node",
        "onnxruntime-node",
        "@nats-io/transport-node",
        "msgpackr",
        "effect",
        "moleculer",
        "nats"
      ].map((p) => [p, version(p)])
    ),
    date: new Date().toISOString()
  }
}
