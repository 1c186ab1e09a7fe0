import { defineConfig } from "vitest/config"

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    // Safety nets against a hang, not timing checks: a busy 2-core machine runs a CLI command in seconds.
    testTimeout: 180000,
    hookTimeout: 120000,
    pool: "forks",
    // Integration tests measure restarts and hangs against real processes on 2 cores: one file at a time.
    fileParallelism: false
  }
})
