// Progress on stderr while a command waits: an upload redrawn in place on a terminal but one line per
// quarter elsewhere (pipes and log files get no `\r`), and each epoch of a fit as the replica finishes it.
import type { FitProgress } from "../protocol/fit.js"

const kib = (bytes: number) => (bytes / 1024).toFixed(0)

/** How far an upload is, as one line without a line break. */
export const uploadText = (sent: number, total: number): string => {
  const percent = total === 0 ? 100 : Math.floor((sent / total) * 100)
  return `uploading ${kib(sent)} / ${kib(total)} KiB (${percent}%)`
}

/** The quarter (0 to 4) of the upload that `sent` bytes complete. */
export const quarterOf = (sent: number, total: number): number =>
  total === 0 ? 4 : Math.min(4, Math.floor((sent / total) * 4))

/**
 * A progress callback for an upload: on a terminal the line is redrawn in place (`\r`) at each report
 * and ended when done; elsewhere a line is written when a new quarter is reached. Reports after the
 * last byte (the store confirms the total again) write nothing more.
 */
export const uploadProgress = (terminal: boolean, write: (text: string) => void) => {
  let quarter = 0
  let done = false
  return (sent: number, total: number): void => {
    if (done) return
    done = sent >= total
    if (terminal) {
      write(`\r${uploadText(sent, total)}${done ? "\n" : ""}`)
      return
    }
    const reached = quarterOf(sent, total)
    if (reached > quarter) {
      quarter = reached
      write(`${uploadText(sent, total)}\n`)
    }
  }
}

/** One finished epoch of a fit, as the line `update --fit` writes when it arrives. */
export const epochLine = (p: FitProgress): string =>
  `epoch ${String(p.epoch).padStart(String(p.epochs).length)}/${p.epochs}  loss ${p.loss.toFixed(4)}  (${p.actor})`

/** A duration in seconds as people read it: `42s`, `3m05s`, `1h02m`. */
export const durationText = (seconds: number): string => {
  if (!Number.isFinite(seconds)) return "?"
  const s = Math.max(0, Math.round(seconds))
  if (s < 60) return `${s}s`
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, "0")}s`
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, "0")}m`
}

/** How far a batch job is, as one line: a bar (on a terminal), rows done, rows/s and the time left. */
export const batchText = (done: number, total: number, rowsPerSecond: number, bar: boolean): string => {
  const share = total === 0 ? 1 : done / total
  const width = 24
  const filled = Math.min(width, Math.floor(share * width))
  const head = bar ? `[${"#".repeat(filled)}${".".repeat(width - filled)}] ` : ""
  const eta = rowsPerSecond > 0 ? durationText((total - done) / rowsPerSecond) : "?"
  return `${head}${Math.floor(share * 100)}%  ${done}/${total} rows  ${rowsPerSecond.toFixed(0)} rows/s  ETA ${eta}`
}

/**
 * A progress callback for a batch job: on a terminal a bar redrawn in place at each report; elsewhere a
 * line each time another tenth of the rows is done (0 % to 100 %: at most eleven lines).
 */
export const batchProgress = (terminal: boolean, write: (text: string) => void) => {
  let tenth = -1
  return (done: number, total: number, rowsPerSecond: number): void => {
    if (terminal) {
      write(`\r${batchText(done, total, rowsPerSecond, true)}${done >= total ? "\n" : ""}`)
      return
    }
    const reached = total === 0 ? 10 : Math.min(10, Math.floor((done / total) * 10))
    if (reached > tenth) {
      tenth = reached
      write(`${batchText(done, total, rowsPerSecond, false)}\n`)
    }
  }
}
