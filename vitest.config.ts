import { configDefaults, defineConfig } from "vitest/config"

/**
 * test/compose/ runs docker-compose.yml for real (image builds included): .ci/run runs it once, on its
 * own, with MODELBUS_COMPOSE_TEST=1; `npm test` leaves it out.
 */
const composeOnly = process.env.MODELBUS_COMPOSE_TEST === "1"

export default defineConfig({
  test: {
    include: composeOnly ? ["test/compose/**/*.test.ts"] : ["test/**/*.test.ts"],
    exclude: composeOnly ? configDefaults.exclude : [...configDefaults.exclude, "test/compose/**"],
    // Safety nets against a hang, not timing checks: a busy 2-core machine runs a CLI command in seconds.
    testTimeout: 180000,
    hookTimeout: 120000,
    pool: "forks",
    // Integration tests measure restarts and hangs against real processes on 2 cores: one file at a time.
    fileParallelism: false
  }
})
