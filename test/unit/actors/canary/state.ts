// A canary entry for unit tests: running, candidate v2 beside v1, 10 % of requests, no shadow, no guard;
// a test overrides the fields it is about.
import type { CanaryState } from "../../../../src/registry/canaryState.js"

/** A running canary of model `fake` with `fields` laid over the defaults. */
export const canaryState = (fields: Partial<CanaryState> = {}): CanaryState => ({
  id: "c1",
  model: "fake",
  stable: 1,
  candidate: {
    version: 2,
    digest: `sha256:${"0".repeat(64)}`,
    format: "layers",
    signature: { format: "layers", inputs: [], outputs: [] },
    createdAt: "2026-01-01T00:00:00.000Z",
    source: "test",
    size: 1
  },
  percent: 10,
  shadow: 0,
  startedAt: "2026-01-01T00:00:00.000Z",
  phase: "running",
  ...fields
})
