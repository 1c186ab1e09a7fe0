// Per-process metrics from /proc: CPU (user+sys seconds) between two snapshots, and peak RSS
// over a window (VmHWM, reset at the window's start through clear_refs when the kernel allows).
import { readFileSync, writeFileSync } from "node:fs"

/** Clock ticks per second of /proc/<pid>/stat times (USER_HZ; 100 on Linux/x86). */
const TICKS_PER_SECOND = 100

export interface ProcSample {
  readonly pid: number
  /** user + system CPU seconds of the process so far. */
  readonly cpuSeconds: number
  readonly rssBytes: number
  readonly peakRssBytes: number
}

export interface ProcDelta {
  readonly role: string
  readonly pid: number
  /** CPU seconds spent between the two snapshots. */
  readonly cpuSeconds: number
  /** Peak resident memory in the window (or over the process's life when it could not be reset). */
  readonly peakRssMb: number
  readonly rssMbAfter: number
}

const kb = (status: string, key: string): number => {
  const match = new RegExp(`^${key}:\\s+(\\d+) kB`, "m").exec(status)
  return match === null ? 0 : Number(match[1]) * 1024
}

/** One snapshot of a live process, or undefined when it is gone. */
export const sampleProcess = (pid: number): ProcSample | undefined => {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8")
    // Fields after the command name, which is in parentheses and may contain spaces.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ")
    const utime = Number(fields[11])
    const stime = Number(fields[12])
    const status = readFileSync(`/proc/${pid}/status`, "utf8")
    return {
      pid,
      cpuSeconds: (utime + stime) / TICKS_PER_SECOND,
      rssBytes: kb(status, "VmRSS"),
      peakRssBytes: kb(status, "VmHWM")
    }
  } catch {
    return undefined
  }
}

/** Resets the process's peak RSS (VmHWM) to its current RSS; false when not permitted. */
export const resetPeakRss = (pid: number): boolean => {
  try {
    writeFileSync(`/proc/${pid}/clear_refs`, "5")
    return true
  } catch {
    return false
  }
}

export interface Watched {
  readonly role: string
  readonly pid: number
}

/** Busy CPU seconds of the whole machine so far (all cores; /proc/stat: everything but idle and iowait). */
export const machineBusySeconds = (): number => {
  try {
    const line = readFileSync("/proc/stat", "utf8").split("\n", 1)[0]!
    const [user, nice, system, , , irq, softirq, steal] = line.trim().split(/\s+/).slice(1).map(Number)
    return ((user ?? 0) + (nice ?? 0) + (system ?? 0) + (irq ?? 0) + (softirq ?? 0) + (steal ?? 0)) / TICKS_PER_SECOND
  } catch {
    return Number.NaN
  }
}

export interface WindowResult {
  readonly processes: Array<ProcDelta>
  /** CPU seconds the rest of the machine used in the window (other programs, the bench's own orchestrator). */
  readonly backgroundCpuSeconds: number
}

/** A measurement window over several processes: `start()` resets peaks and snapshots, `end()` diffs. */
export const processWindow = (processes: ReadonlyArray<Watched>) => {
  let before = new Map<number, ProcSample>()
  let busyBefore = 0
  return {
    start: () => {
      for (const p of processes) resetPeakRss(p.pid)
      before = new Map(
        processes.flatMap((p) => {
          const s = sampleProcess(p.pid)
          return s === undefined ? [] : [[p.pid, s] as const]
        })
      )
      busyBefore = machineBusySeconds()
    },
    end: (): WindowResult => {
      const busy = machineBusySeconds() - busyBefore
      const deltas = processes.flatMap((p) => {
        const a = before.get(p.pid)
        const b = sampleProcess(p.pid)
        if (a === undefined || b === undefined) return []
        return [
          {
            role: p.role,
            pid: p.pid,
            cpuSeconds: round(b.cpuSeconds - a.cpuSeconds, 2),
            peakRssMb: round(b.peakRssBytes / 2 ** 20, 1),
            rssMbAfter: round(b.rssBytes / 2 ** 20, 1)
          }
        ]
      })
      const ours = deltas.reduce((a, d) => a + d.cpuSeconds, 0)
      return { processes: deltas, backgroundCpuSeconds: round(Math.max(0, busy - ours), 2) }
    }
  }
}

export const round = (value: number, digits: number): number => {
  const f = 10 ** digits
  return Math.round(value * f) / f
}
