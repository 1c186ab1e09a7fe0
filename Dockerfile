# The modelbus image: a build stage compiles TypeScript to dist/, a runtime stage holds production
# dependencies, dist/ and the examples, and runs `modelbus` as the non-root `node` user.
#
#   docker build -t modelbus .
#   docker run --rm modelbus supervise --config examples/iris/modelbus.yaml --server nats://HOST:4222
#
# Node.js 24, an LTS line (package.json's engines: 22.19+, 24 or 26; CI runs the test suite on all three).
#
# Model runtime: @tensorflow/tfjs-node is an *optional* dependency. Its install script downloads
# libtensorflow (and its prebuilt addon); when that download or build fails (no internet, an
# unsupported platform) the package is dropped and modelbus falls back to the WASM backend
# (@tensorflow/tfjs-backend-wasm), then to the pure-JS cpu backend. Set MODELBUS_BACKEND to force one.

# ---- build: all dependencies, compile src/ to dist/ ----
FROM node:24-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
# tsc needs no install script: skip them here (the package's own `prepare`, a build, too) so the build
# stage does not download libtensorflow only to throw it away (the runtime stage runs that one).
RUN npm ci --ignore-scripts
COPY tsconfig.json ./
COPY src ./src
# scripts/bundle.ts bundles the CLI and the actor process after tsc (esbuild, a dev dependency)
COPY scripts ./scripts
RUN npm run build

# ---- runtime: production dependencies, dist/, examples/ ----
FROM node:24-bookworm-slim AS runtime
ENV NODE_ENV=production
WORKDIR /app
COPY package.json package-lock.json ./
# `--ignore-scripts`: the package's own `prepare` builds dist/ with dev dependencies, and dist/ comes from the
# build stage; `npm rebuild` then runs the one install script wanted, tfjs-node's. Where it fails, the package
# is removed, as npm drops a failed optional dependency, and modelbus serves on WASM.
RUN npm ci --omit=dev --ignore-scripts \
  && (npm rebuild @tensorflow/tfjs-node || rm -rf node_modules/@tensorflow/tfjs-node) \
  && npm cache clean --force
COPY --from=build /app/dist ./dist
COPY examples ./examples
USER node
# `supervise` and `up` serve /metrics (Prometheus), /healthz and /readyz on this port (--metrics-port wins).
ENV MODELBUS_METRICS_PORT=9090
EXPOSE 9090
# Alive while the supervisor answers /healthz (docker-compose.yml asks /readyz: every model serving).
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch(`http://127.0.0.1:${process.env.MODELBUS_METRICS_PORT}/healthz`).then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
# SIGTERM drains every actor and exits 0; give it time (docker-compose.yml: stop_grace_period).
STOPSIGNAL SIGTERM
ENTRYPOINT ["node", "dist/cli/main.js"]
CMD ["supervise", "--config", "examples/iris/modelbus.yaml"]
