import { defineConfig } from "vitest/config"

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    testTimeout: 60000,
    hookTimeout: 60000,
    pool: "forks",
    // Integration tests measure restarts and hangs against real processes on 2 cores: one file at a time.
    fileParallelism: false
  }
})
