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
