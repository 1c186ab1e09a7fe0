import { describe, expect, it } from "vitest"
import { ACTOR_INITIAL_HEAP_MB, actorExecArgv } from "../../../src/supervisor/runtime/actorFlags.js"

describe("actor process flags", () => {
  const heap = `--initial-heap-size=${ACTOR_INITIAL_HEAP_MB}`
  it.each([
    { source: false, nodeOptions: undefined, expected: [heap] },
    { source: true, nodeOptions: undefined, expected: ["--import", "tsx", heap] },
    { source: false, nodeOptions: "--enable-source-maps", expected: [heap] },
    { source: false, nodeOptions: "--max-old-space-size=512", expected: [] },
    { source: false, nodeOptions: "--max_old_space_size=512", expected: [] },
    { source: true, nodeOptions: "--initial-heap-size=64 --trace-warnings", expected: ["--import", "tsx"] }
  ])("from source $source with NODE_OPTIONS $nodeOptions: $expected", ({ source, nodeOptions, expected }) => {
    expect(actorExecArgv(source, nodeOptions)).toEqual(expected)
  })
})
