// Pinning bench processes to CPU cores (Linux `taskset`): every thread of a process, and of the processes
// it forked, so a run can give the model's replicas some cores and the bus (nats-server, the submitting CLI,
// the bench itself) the others, as a deployment with NATS on its own machines would.
import { execFileSync } from "node:child_process"
import { readdirSync, readFileSync } from "node:fs"

/** `pid` and the processes it forked, recursively (from /proc; processes gone meanwhile are skipped). */
export const processTree = (pid: number): Array<number> => {
  const children = (p: number): Array<number> => {
    try {
      return readdirSync(`/proc/${p}/task`).flatMap((task) =>
        readFileSync(`/proc/${p}/task/${task}/children`, "utf8").trim().split(/\s+/).filter(Boolean).map(Number)
      )
    } catch {
      return []
    }
  }
  const all = [pid]
  for (let i = 0; i < all.length; i++) all.push(...children(all[i]!))
  return all
}

/** Pins every thread of `pid` and of its descendants to `cores` (new threads and children inherit it). */
export const pinTree = (pid: number, cores: ReadonlyArray<number>): void => {
  for (const p of processTree(pid)) {
    try {
      execFileSync("taskset", ["-a", "-p", "-c", cores.join(","), String(p)], { stdio: "ignore" })
    } catch {
      // the process ended meanwhile
    }
  }
}
