import { configDefaults, defineConfig } from "vitest/config"

/**
 * test/compose/ runs docker-compose.yml for real (image builds included): .ci/run runs it once, on its
 * own, with MODELBUS_COMPOSE_TEST=1; `npm test` leaves it out.
 */
const composeOnly = process.env.MODELBUS_COMPOSE_TEST === "1"

/**
 * Suites whose subject is a NATS cluster's behaviour (JetStream elections, partitions, node kills,
 * streams replicated across nodes), not the Node.js runtime: with MODELBUS_TEST_SCOPE=runtime they are
 * left out. .ci/run runs every suite on its main Node line and this scope on the other lines, to stay
 * within its time budget; `npm test` alone runs everything.
 */
const clusterSuites = [
  "test/integration/elections.test.ts",
  "test/integration/cluster.test.ts",
  "test/integration/membership.test.ts",
  "test/integration/batchCluster.test.ts",
  "test/integration/autoscaleCluster.test.ts"
]
const runtimeOnly = process.env.MODELBUS_TEST_SCOPE === "runtime"

export default defineConfig({
  test: {
    include: composeOnly ? ["test/compose/**/*.test.ts"] : ["test/**/*.test.ts"],
    exclude: composeOnly
      ? configDefaults.exclude
      : [...configDefaults.exclude, "test/compose/**", ...(runtimeOnly ? clusterSuites : [])],
    // Safety nets against a hang, not timing checks: a busy 2-core machine runs a CLI command in seconds.
    testTimeout: 180000,
    hookTimeout: 120000,
    pool: "forks",
    // Integration tests measure restarts and hangs against real processes on 2 cores: one file at a time.
    fileParallelism: false
  }
})
