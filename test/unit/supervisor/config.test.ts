// The config file: the example parses, unknown keys and bad values are ConfigErrors naming the
// key's path, defaults are applied, model paths resolve against the file's folder, JSON and YAML.
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises"
import { availableParallelism, tmpdir } from "node:os"
import { dirname, join, resolve } from "node:path"
import { fileURLToPath } from "node:url"
import { Effect } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { redact } from "../../../src/protocol/auth.js"
import { DEFAULT_BATCHING } from "../../../src/protocol/ipc.js"
import { DEFAULT_RETENTION } from "../../../src/registry/Registry.js"
import {
  type Config,
  ConfigError,
  DEFAULTS,
  decodeConfig,
  loadConfig,
  replicaSpec
} from "../../../src/supervisor/config.js"
import { DEFAULT_AUTOSCALE } from "../../../src/supervisor/machine/autoscalePolicy.js"
import { DEFAULT_BACKOFF } from "../../../src/supervisor/machine/backoff.js"
import { DEFAULT_STANDBY } from "../../../src/supervisor/machine/standbyPolicy.js"

const repo = resolve(dirname(fileURLToPath(import.meta.url)), "../../..")
const CONFIG_PATH = "/etc/modelbus/modelbus.yaml"

const decoded = (raw: unknown, path = CONFIG_PATH): Promise<Config> => Effect.runPromise(decodeConfig(raw, path))
const refused = async (raw: unknown, path = CONFIG_PATH): Promise<ConfigError> => {
  const error = await Effect.runPromise(Effect.flip(decodeConfig(raw, path)))
  expect(error).toBeInstanceOf(ConfigError)
  expect(error._tag).toBe("ConfigError")
  expect(error.path).toBe(path)
  expect(error.message).toContain(path)
  return error
}

const minimal = { models: [{ name: "iris", path: "./model" }] }

describe("decodeConfig", () => {
  it("applies the defaults: one_for_one, intensity 3, 10 s period, 1 permanent replica", async () => {
    const config = await decoded(minimal)
    expect(config).toEqual({
      prefix: "modelbus",
      root: { strategy: "one_for_one", intensity: 3, periodMs: 10_000 },
      standby: DEFAULT_STANDBY,
      maxActors: availableParallelism(),
      registry: { mode: "auto", retention: DEFAULT_RETENTION },
      models: [
        {
          name: "iris",
          path: "/etc/modelbus/model",
          replicas: 1,
          restart: "permanent",
          shutdown: DEFAULTS.shutdownMs,
          heartbeatMs: DEFAULTS.heartbeatMs,
          hangTimeoutMs: DEFAULTS.hangTimeoutMs,
          startTimeoutMs: DEFAULTS.startTimeoutMs,
          batching: DEFAULT_BATCHING,
          supervisor: { strategy: "one_for_one", intensity: 3, periodMs: 10_000 },
          backoff: DEFAULT_BACKOFF
        }
      ]
    })
    expect(config.servers).toBeUndefined()
  })

  it("keeps every value given", async () => {
    const config = await decoded({
      nats: { servers: ["nats://a:4222", "nats://b:4222"] },
      prefix: "acme.ml",
      supervisor: { strategy: "rest_for_one", intensity: 0, period: 2.5 },
      models: [
        {
          name: "a",
          path: "/models/a",
          replicas: 3,
          restart: "transient",
          shutdown: "brutal_kill",
          heartbeatMs: 250,
          maxPayloadBytes: 1024
        },
        { name: "b", path: "b", restart: "temporary", shutdown: 0 }
      ]
    })
    expect(config.servers).toEqual(["nats://a:4222", "nats://b:4222"])
    expect(config.prefix).toBe("acme.ml")
    expect(config.root).toEqual({ strategy: "rest_for_one", intensity: 0, periodMs: 2_500 })
    expect(config.models[0]).toEqual({
      name: "a",
      path: "/models/a",
      replicas: 3,
      restart: "transient",
      shutdown: "brutal_kill",
      heartbeatMs: 250,
      maxPayloadBytes: 1024,
      hangTimeoutMs: DEFAULTS.hangTimeoutMs,
      startTimeoutMs: DEFAULTS.startTimeoutMs,
      batching: DEFAULT_BATCHING,
      supervisor: { strategy: "rest_for_one", intensity: 0, periodMs: 2_500 },
      backoff: DEFAULT_BACKOFF
    })
    expect(config.models[1]).toMatchObject({
      name: "b",
      path: "/etc/modelbus/b",
      replicas: 1,
      restart: "temporary",
      shutdown: 0
    })
    const model = config.models[0]!
    expect([1, 2, 3].map((i) => replicaSpec(model, i))).toEqual(
      ["a-1", "a-2", "a-3"].map((id) => ({
        id,
        restart: "transient",
        shutdown: "brutal_kill",
        type: "worker",
        hangTimeoutMs: model.hangTimeoutMs,
        startTimeoutMs: model.startTimeoutMs,
        backoff: model.backoff
      }))
    )
  })

  it("resolves a relative model path against the config file's folder, and keeps an absolute one", async () => {
    const config = await decoded(
      {
        models: [
          { name: "a", path: "../shared/models/a" },
          { name: "b", path: "/opt/b" }
        ]
      },
      "/srv/app/conf/modelbus.json"
    )
    expect(config.models.map((m) => m.path)).toEqual(["/srv/app/shared/models/a", "/opt/b"])
  })

  it("an unknown key at the top level names its path", async () => {
    const e = await refused({ ...minimal, extra: 1 })
    expect(e.message).toContain(`["extra"]`)
  })

  it("an unknown key inside a model entry names its path", async () => {
    const e = await refused({
      models: [
        { name: "iris", path: "./model" },
        { name: "b", path: "b", extra: true }
      ]
    })
    expect(e.message).toContain(`["models"][1]["extra"]`)
    const first = await refused({ models: [{ name: "iris", path: "./model", replica: 2 }] })
    expect(first.message).toContain(`["models"][0]["replica"]`)
  })

  it("an unknown key inside supervisor or nats names its path", async () => {
    expect((await refused({ ...minimal, supervisor: { stratgey: "one_for_all" } })).message).toContain(
      `["supervisor"]["stratgey"]`
    )
    expect((await refused({ ...minimal, nats: { servers: "nats://x", username: "u" } })).message).toContain(
      `["nats"]["username"]`
    )
  })

  it("a model name that is not one subject token", async () => {
    for (const name of ["my.model", "a b", "", "*", "iris>"]) {
      const e = await refused({ models: [{ name, path: "p" }] })
      expect(e.message).toContain(`["models"][0]["name"]`)
      expect(e.message).toContain("model name")
    }
  })

  it("replicas 0, negative or fractional", async () => {
    for (const replicas of [0, -1, 1.5, "2"]) {
      const e = await refused({ models: [{ name: "a", path: "p", replicas }] })
      expect(e.message).toContain(`["models"][0]["replicas"]`)
    }
  })

  it("supervisor.standby: one by default, 0 turns it off, the root's only", async () => {
    expect((await decoded(minimal)).standby).toBe(1)
    expect((await decoded({ ...minimal, supervisor: { standby: 0 } })).standby).toBe(0)
    const three = await decoded({ ...minimal, supervisor: { standby: 3, intensity: 5 } })
    expect([three.standby, three.root.intensity, three.models[0]!.supervisor.intensity]).toEqual([3, 5, 5])
    for (const standby of [-1, 1.5, "1", 17]) {
      expect((await refused({ ...minimal, supervisor: { standby } })).message).toContain(`["supervisor"]["standby"]`)
    }
    // a model's supervisor has no pool of its own
    const perModel = await refused({ models: [{ name: "a", path: "p", supervisor: { standby: 1 } }] })
    expect(perModel.message).toContain(`["models"][0]["supervisor"]["standby"]`)
  })

  it("supervisor.maxActors: the host's cores by default, a positive integer when given", async () => {
    expect((await decoded(minimal)).maxActors).toBe(availableParallelism())
    expect((await decoded({ ...minimal, supervisor: { maxActors: 12 } })).maxActors).toBe(12)
    for (const maxActors of [0, -2, 1.5, "4"]) {
      expect((await refused({ ...minimal, supervisor: { maxActors } })).message).toContain(
        `["supervisor"]["maxActors"]`
      )
    }
  })

  it("autoscale: absent by default; every key defaulted; max defaults to maxActors; replicas to min", async () => {
    expect((await decoded(minimal)).models[0]!.autoscale).toBeUndefined()
    const config = await decoded({ supervisor: { maxActors: 6 }, models: [{ name: "a", path: "p", autoscale: {} }] })
    expect(config.models[0]!.autoscale).toEqual({ ...DEFAULT_AUTOSCALE, max: 6 })
    expect(config.models[0]!.replicas).toBe(DEFAULT_AUTOSCALE.min)
    const given = {
      min: 2,
      max: 5,
      targetInflight: 0.5,
      upscaleDelayMs: 0,
      downscaleDelayMs: 100,
      lookbackMs: 50,
      maxHeldRequests: 10,
      maxHeldBytes: 4096
    }
    const kept = await decoded({ supervisor: { maxActors: 8 }, models: [{ name: "a", path: "p", autoscale: given }] })
    expect(kept.models[0]!.autoscale).toEqual(given)
    expect(kept.models[0]!.replicas).toBe(2)
  })

  it("autoscale.min 0: the model may start at zero replicas; replicas 0 without it is refused", async () => {
    const zero = await decoded({ models: [{ name: "a", path: "p", autoscale: { min: 0, max: 1 } }] })
    expect([zero.models[0]!.replicas, zero.models[0]!.autoscale!.min]).toEqual([0, 0])
    const e = await refused({ models: [{ name: "a", path: "p", replicas: 0 }] })
    expect(e.message).toContain("replicas 0 needs autoscale with min 0")
  })

  it("autoscale: bad values are refused naming the key", async () => {
    const withPolicy = (autoscale: object, extra: object = {}) => ({
      supervisor: { maxActors: 4 },
      models: [{ name: "a", path: "p", autoscale, ...extra }]
    })
    const cases: Array<[unknown, string, string]> = [
      [
        withPolicy({ min: 3, max: 2 }),
        `["models"][0]["autoscale"]["min"]`,
        "autoscale.min (3) is above autoscale.max (2)"
      ],
      [withPolicy({ max: 5 }), `["models"][0]["autoscale"]["max"]`, "supervisor.maxActors (4)"],
      [withPolicy({ max: 2 }, { replicas: 3 }), `["models"][0]["replicas"]`, "is above autoscale.max (2)"],
      [withPolicy({ min: -1 }), `["models"][0]["autoscale"]["min"]`, ""],
      [withPolicy({ max: 0 }), `["models"][0]["autoscale"]["max"]`, ""],
      [withPolicy({ targetInflight: 0 }), `["models"][0]["autoscale"]["targetInflight"]`, ""],
      [withPolicy({ upscaleDelayMs: -5 }), `["models"][0]["autoscale"]["upscaleDelayMs"]`, ""],
      [withPolicy({ downscaleDelayMs: 1.5 }), `["models"][0]["autoscale"]["downscaleDelayMs"]`, ""],
      [withPolicy({ lookbackMs: 0 }), `["models"][0]["autoscale"]["lookbackMs"]`, ""],
      [withPolicy({ maxHeldRequests: 0 }), `["models"][0]["autoscale"]["maxHeldRequests"]`, ""],
      [withPolicy({ maxHeldBytes: -1 }), `["models"][0]["autoscale"]["maxHeldBytes"]`, ""],
      [withPolicy({ maxReplicas: 3 }), `["models"][0]["autoscale"]["maxReplicas"]`, ""]
    ]
    for (const [raw, path, why] of cases) {
      const e = await refused(raw)
      expect(e.message).toContain(path)
      expect(e.message).toContain(why)
    }
  })

  it("a bad strategy lists the strategies", async () => {
    const e = await refused({ ...minimal, supervisor: { strategy: "all_for_one" } })
    expect(e.message).toContain(`["supervisor"]["strategy"]`)
    expect(e.message).toContain("one_for_one")
    expect(e.message).toContain("rest_for_one")
  })

  it("other bad values: intensity, period, restart, shutdown, prefix, servers, models", async () => {
    const cases: Array<[unknown, string]> = [
      [{ ...minimal, supervisor: { intensity: -1 } }, `["supervisor"]["intensity"]`],
      [{ ...minimal, supervisor: { period: 0 } }, `["supervisor"]["period"]`],
      [{ models: [{ name: "a", path: "p", restart: "always" }] }, `["models"][0]["restart"]`],
      [{ models: [{ name: "a", path: "p", shutdown: "soon" }] }, `["models"][0]["shutdown"]`],
      [{ models: [{ name: "a", path: "" }] }, `["models"][0]["path"]`],
      [{ models: [{ name: "a" }] }, `["models"][0]["path"]`],
      [{ ...minimal, prefix: "a..b" }, `["prefix"]`],
      [{ ...minimal, nats: { servers: [] } }, `["nats"]["servers"]`],
      [{ models: [] }, `["models"]`],
      [{}, `["models"]`]
    ]
    for (const [raw, path] of cases) expect((await refused(raw)).message).toContain(path)
  })

  it("batching.maxBatchSize: measured by default and with auto, fixed by a number, anything else refused", async () => {
    const batchingOf = async (batching?: object) =>
      (await decoded({ models: [{ name: "a", path: "p", ...(batching === undefined ? {} : { batching }) }] }))
        .models[0]!.batching
    expect(await batchingOf()).toEqual({ maxBatchSize: "auto", maxDelayMs: 0 })
    expect(await batchingOf({ maxBatchSize: "auto", maxDelayMs: 2 })).toEqual({ maxBatchSize: "auto", maxDelayMs: 2 })
    expect(await batchingOf({ maxBatchSize: 8 })).toEqual({ maxBatchSize: 8, maxDelayMs: 0 })
    for (const [maxBatchSize, why] of [
      ["fast", 'Expected an integer ≥ 1 or "auto"'],
      [null, 'Expected an integer ≥ 1 or "auto"'],
      [0, "greater than or equal to 1"],
      [2.5, "integer"]
    ] as const) {
      const e = await refused({ models: [{ name: "a", path: "p", batching: { maxBatchSize } }] })
      expect(e.message).toContain(`["models"][0]["batching"]["maxBatchSize"]`)
      expect(e.message).toContain(why)
    }
  })

  it("a config that is not an object", async () => {
    for (const raw of [null, "models: []", 42, []]) await refused(raw)
  })

  it("duplicate model names", async () => {
    const e = await refused({
      models: [
        { name: "a", path: "x" },
        { name: "b", path: "y" },
        { name: "a", path: "z" }
      ]
    })
    expect(e.message).toContain(`model name "a" appears twice`)
    expect(e.message).toContain(`["models"]`)
  })

  it("reports every problem, not just the first", async () => {
    const e = await refused({ models: [{ name: "a.b", path: "p", replicas: -1 }], extra: 1 })
    expect(e.message).toContain(`["models"][0]["name"]`)
    expect(e.message).toContain(`["models"][0]["replicas"]`)
    expect(e.message).toContain(`["extra"]`)
  })
})

describe("loadConfig", () => {
  let dir: string
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "modelbus-config-"))
  })
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true })
  })

  it("parses the iris example", async () => {
    const file = join(repo, "examples/iris/modelbus.yaml")
    const config = await Effect.runPromise(loadConfig(file))
    // no servers: `up` and `supervise` take --server, $NATS_URL or the default address
    expect(config).toEqual({
      prefix: "modelbus",
      root: { strategy: "one_for_one", intensity: 3, periodMs: 10_000 },
      standby: DEFAULT_STANDBY,
      maxActors: availableParallelism(),
      registry: { mode: "auto", retention: DEFAULT_RETENTION },
      models: [
        {
          name: "iris",
          path: join(repo, "examples/iris/model"),
          replicas: 2,
          restart: "permanent",
          shutdown: DEFAULTS.shutdownMs,
          heartbeatMs: DEFAULTS.heartbeatMs,
          hangTimeoutMs: DEFAULTS.hangTimeoutMs,
          startTimeoutMs: DEFAULTS.startTimeoutMs,
          batching: DEFAULT_BATCHING,
          supervisor: { strategy: "one_for_one", intensity: 3, periodMs: 10_000 },
          backoff: DEFAULT_BACKOFF
        }
      ]
    })
  })

  it("loads YAML and JSON alike, resolving paths against the file's folder", async () => {
    await mkdir(join(dir, "conf"), { recursive: true })
    const yamlFile = join(dir, "conf", "modelbus.yaml")
    const jsonFile = join(dir, "conf", "modelbus.json")
    await writeFile(
      yamlFile,
      "models:\n  - name: iris\n    path: ../models/iris\n    replicas: 2\nsupervisor:\n  period: 5\n"
    )
    await writeFile(
      jsonFile,
      JSON.stringify({ models: [{ name: "iris", path: "../models/iris", replicas: 2 }], supervisor: { period: 5 } })
    )
    const fromYaml = await Effect.runPromise(loadConfig(yamlFile))
    const fromJson = await Effect.runPromise(loadConfig(jsonFile))
    expect(fromYaml).toEqual(fromJson)
    expect(fromYaml.models[0]!.path).toBe(join(dir, "models", "iris"))
    expect(fromYaml.root).toEqual({ strategy: "one_for_one", intensity: 3, periodMs: 5_000 })
    expect(fromYaml.models[0]!.supervisor).toEqual(fromYaml.root)
  })

  it("resolves a relative file name from the working directory, and paths from the file's folder", async () => {
    const file = join(dir, "rel.yml")
    await writeFile(file, "models:\n  - name: m\n    path: ./m\n")
    const config = await Effect.runPromise(loadConfig(join(dir, ".", "sub", "..", "rel.yml")))
    expect(config.models[0]!.path).toBe(join(dir, "m"))
  })

  it("an unknown key in a file is a ConfigError naming the file and the key's path", async () => {
    const file = join(dir, "extra.yaml")
    await writeFile(file, "models:\n  - name: iris\n    path: ./m\n    extra: 1\n")
    const e = await Effect.runPromise(Effect.flip(loadConfig(file)))
    expect(e).toBeInstanceOf(ConfigError)
    expect(e.path).toBe(file)
    expect(e.message).toContain(file)
    expect(e.message).toContain(`["models"][0]["extra"]`)
  })

  it("a missing file, bad JSON and bad YAML are ConfigErrors", async () => {
    const missing = await Effect.runPromise(Effect.flip(loadConfig(join(dir, "nope.yaml"))))
    expect(missing).toBeInstanceOf(ConfigError)
    expect(missing.message).toContain("cannot read config")

    const badJson = join(dir, "bad.json")
    await writeFile(badJson, "{ models: [")
    const eJson = await Effect.runPromise(Effect.flip(loadConfig(badJson)))
    expect(eJson).toBeInstanceOf(ConfigError)
    expect(eJson.message).toContain("not valid JSON")

    const badYaml = join(dir, "bad.yaml")
    await writeFile(badYaml, "models: [\n  - name: : :\n")
    const eYaml = await Effect.runPromise(Effect.flip(loadConfig(badYaml)))
    expect(eYaml).toBeInstanceOf(ConfigError)
    expect(eYaml.message).toContain("not valid YAML")
  })

  it("an empty YAML file is a ConfigError about the missing models", async () => {
    const empty = join(dir, "empty.yaml")
    await writeFile(empty, "")
    const e = await Effect.runPromise(Effect.flip(loadConfig(empty)))
    expect(e).toBeInstanceOf(ConfigError)
    expect(e.path).toBe(empty)
  })
})

describe("supervision settings per model", () => {
  it("takes a model's own supervisor policy, backoff, hang timeout and recycle limits", async () => {
    const config = await decoded({
      supervisor: { strategy: "one_for_all", intensity: 7, period: 20 },
      models: [
        {
          name: "m",
          path: "./m",
          hangTimeoutMs: 5000,
          supervisor: { strategy: "rest_for_one" },
          backoff: { initialMs: 10, maxMs: 100 },
          recycle: { afterRequests: 1000, maxRssMb: 512, maxTensors: 200 }
        }
      ]
    })
    const model = config.models[0]!
    expect(config.root).toEqual({ strategy: "one_for_all", intensity: 7, periodMs: 20_000 })
    expect(model.supervisor).toEqual({ strategy: "rest_for_one", intensity: 7, periodMs: 20_000 })
    expect(model.backoff).toEqual({ ...DEFAULT_BACKOFF, initialMs: 10, maxMs: 100 })
    expect(model.hangTimeoutMs).toBe(5000)
    expect(model.recycle).toEqual({ afterRequests: 1000, maxRssMb: 512, maxTensors: 200 })
  })

  it("rejects bad supervision values with their paths", async () => {
    expect((await refused({ models: [{ name: "m", path: "p", backoff: { jitter: 2 } }] })).message).toContain(
      `["models"][0]["backoff"]["jitter"]`
    )
    expect((await refused({ models: [{ name: "m", path: "p", recycle: { afterRequests: 0 } }] })).message).toContain(
      `["models"][0]["recycle"]["afterRequests"]`
    )
    expect(
      (await refused({ models: [{ name: "m", path: "p", supervisor: { strategy: "simple_one_for_one" } }] })).message
    ).toContain(`["models"][0]["supervisor"]["strategy"]`)
    expect((await refused({ models: [{ name: "m", path: "p", hangTimeoutMs: 0 }] })).message).toContain(
      `["models"][0]["hangTimeoutMs"]`
    )
  })

  it("takes registry.replicas from 1 to 5 and rejects others with their path", async () => {
    expect((await decoded({ registry: { replicas: 3 }, models: [{ name: "m", path: "p" }] })).registry).toEqual({
      mode: "auto",
      retention: DEFAULT_RETENTION,
      replicas: 3
    })
    for (const replicas of [0, 6, 2.5]) {
      expect((await refused({ registry: { replicas }, models: [{ name: "m", path: "p" }] })).message).toContain(
        `["registry"]["replicas"]`
      )
    }
  })

  it("takes metrics.port from 0 (a free port) to 65535, none by default, and rejects others with their path", async () => {
    expect((await decoded(minimal)).metrics).toBeUndefined()
    expect((await decoded({ ...minimal, metrics: { port: 0 } })).metrics).toEqual({ port: 0 })
    expect((await decoded({ ...minimal, metrics: { port: 9090 } })).metrics).toEqual({ port: 9090 })
    for (const metrics of [{ port: -1 }, { port: 65_536 }, { port: 80.5 }, { port: 9090, host: "x" }]) {
      expect((await refused({ ...minimal, metrics })).message).toContain(`["metrics"]`)
    }
  })
})

describe("connection settings (nats)", () => {
  it("takes credentials and TLS files, their paths relative to the config file", async () => {
    const config = await decoded({
      ...minimal,
      nats: {
        servers: ["tls://a:4222", "tls://b:4222"],
        user: "service",
        password: "s3cret",
        tls: { ca: "certs/ca.pem", cert: "/abs/cert.pem", key: "../key.pem" }
      }
    })
    expect(config.servers).toEqual(["tls://a:4222", "tls://b:4222"])
    expect(config.auth).toEqual({
      user: "service",
      password: "s3cret",
      tls: { ca: "/etc/modelbus/certs/ca.pem", cert: "/abs/cert.pem", key: "/etc/key.pem" }
    })
    expect((await decoded({ ...minimal, nats: { creds: "svc.creds" } })).auth).toEqual({
      creds: "/etc/modelbus/svc.creds"
    })
    expect((await decoded(minimal)).auth).toBeUndefined()
  })

  it("refuses two ways to authenticate, and unknown keys under nats or nats.tls, with their path", async () => {
    const both = await refused({ ...minimal, nats: { token: "t0ken", nkey: "user.nk" } })
    expect(both.message).toContain("give one way to authenticate to NATS, not token and nkey")
    expect(both.message).toContain(`["nats"]`)
    expect((await refused({ ...minimal, nats: { tls: { cafile: "x" } } })).message).toContain(
      `["nats"]["tls"]["cafile"]`
    )
  })

  it("never shows the password, even when its type is wrong", async () => {
    const error = await refused({ ...minimal, nats: { user: "service", password: 73519846 } })
    expect(error.message).toContain(`["nats"]["password"]`)
    expect(redact(error.message)).not.toContain("73519846")
  })
})
