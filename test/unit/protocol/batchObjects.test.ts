// Which batch bodies go through the Object Store, the objects' names, and rows per chunk by default.
import { describe, expect, it } from "vitest"
import { batchNames } from "../../../src/protocol/batch.js"
import {
  chunkObject,
  defaultChunkRows,
  goesByObject,
  HEADER_HEADROOM_BYTES,
  isJobObject,
  OBJECT_CHUNK_BYTES,
  resultObject
} from "../../../src/protocol/batchObjects.js"

const MB = 1024 * 1024

describe("bodies by object", () => {
  it("goes by object only when the body and its headers' headroom exceed max_payload", () => {
    expect(goesByObject(MB - HEADER_HEADROOM_BYTES, MB)).toBe(false)
    expect(goesByObject(MB - HEADER_HEADROOM_BYTES + 1, MB)).toBe(true)
    expect(goesByObject(100, MB)).toBe(false)
    // a 224×224×3 float32 image: one row fits, two do not
    const image = 224 * 224 * 3 * 4
    expect(goesByObject(image, MB)).toBe(false)
    expect(goesByObject(2 * image, MB)).toBe(true)
  })

  it("names a job's objects by chunk, in a bucket of the prefix", () => {
    expect(chunkObject("j1", 3)).toBe("j1.chunk.3")
    expect(resultObject("j1", 3)).toBe("j1.result.3")
    expect(isJobObject("j1", chunkObject("j1", 0))).toBe(true)
    expect(isJobObject("j1", resultObject("j1", 7))).toBe(true)
    expect(isJobObject("j1", chunkObject("j10", 0))).toBe(false)
    expect(batchNames("acme.ml").data).toBe("acme_ml_batch_data")
  })
})

describe("default rows per chunk", () => {
  it("fills at most 7/8 of a message with rows of up to half a message, at most 1024 rows", () => {
    expect(defaultChunkRows(16, MB)).toBe(1024)
    expect(defaultChunkRows(3136, MB)).toBe(292)
    expect(defaultChunkRows(0, MB)).toBe(1024)
    expect(defaultChunkRows(MB / 2, MB)).toBe(1)
    expect(defaultChunkRows(MB / 4, MB)).toBe(3)
  })

  it("chunks rows over half a message up to OBJECT_CHUNK_BYTES, at least one row", () => {
    const image = 224 * 224 * 3 * 4
    expect(defaultChunkRows(image, MB)).toBe(Math.floor(OBJECT_CHUNK_BYTES / image))
    expect(defaultChunkRows(image, MB)).toBe(6)
    expect(defaultChunkRows(OBJECT_CHUNK_BYTES * 2, MB)).toBe(1)
    expect(defaultChunkRows(MB / 2 + 1, MB)).toBe(7)
  })
})
