// Progress while a command waits (pure): an upload redrawn with `\r` only on a terminal and one line
// per quarter elsewhere, never more after the last byte; an epoch line; defaults in --help; --json text.
import { describe, expect, it } from "vitest"
import { withDefaultText } from "../../../src/cli/flags.js"
import { jsonText } from "../../../src/cli/output.js"
import { epochLine, quarterOf, uploadProgress, uploadText } from "../../../src/cli/progress.js"

const KiB = 1024

/** Feeds an upload of `total` bytes in `chunk`-byte steps, then the store's final confirmation, to a reporter. */
const upload = (terminal: boolean, total: number, chunk: number) => {
  const written: Array<string> = []
  const report = uploadProgress(terminal, (text) => written.push(text))
  for (let sent = Math.min(chunk, total); ; sent = Math.min(sent + chunk, total)) {
    report(sent, total)
    if (sent >= total) break
  }
  report(total, total)
  return written
}

describe("upload progress", () => {
  it("writes a line per quarter reached when stderr is not a terminal, with no carriage return", () => {
    const written = upload(false, 640 * KiB, 128 * KiB)
    expect(written).toEqual([
      "uploading 256 / 640 KiB (40%)\n",
      "uploading 384 / 640 KiB (60%)\n",
      "uploading 512 / 640 KiB (80%)\n",
      "uploading 640 / 640 KiB (100%)\n"
    ])
    expect(written.join("")).not.toContain("\r")
  })

  it("writes one line for an upload of one chunk, and at most four for many small chunks", () => {
    expect(upload(false, 3 * KiB, 128 * KiB)).toEqual(["uploading 3 / 3 KiB (100%)\n"])
    expect(upload(false, 1000 * KiB, KiB)).toHaveLength(4)
  })

  it("redraws one line in place on a terminal and ends it once", () => {
    const written = upload(true, 256 * KiB, 128 * KiB)
    expect(written).toEqual(["\ruploading 128 / 256 KiB (50%)", "\ruploading 256 / 256 KiB (100%)\n"])
  })

  it("counts an empty upload as done", () => {
    expect(quarterOf(0, 0)).toBe(4)
    expect(uploadText(0, 0)).toBe("uploading 0 / 0 KiB (100%)")
  })
})

describe("fit epochs, defaults and JSON", () => {
  it("prints an epoch as number of total, loss and the replica", () => {
    expect(epochLine({ epoch: 3, epochs: 10, loss: 0.123456, actor: "iris-1@k3j9x2" })).toBe(
      "epoch  3/10  loss 0.1235  (iris-1@k3j9x2)"
    )
  })

  it("ends a flag's description with its default", () => {
    expect(withDefaultText("Timeout of each attempt in milliseconds", 5000)).toBe(
      "Timeout of each attempt in milliseconds (default: 5000)"
    )
  })

  it("prints --json results as one parseable document", () => {
    const value = { model: "iris", versions: [{ version: 1 }] }
    expect(JSON.parse(jsonText(value))).toEqual(value)
  })
})
