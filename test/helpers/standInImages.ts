// Stand-ins for the base images docker-compose.yml and the Dockerfile build on, where they cannot be
// pulled: a Debian bookworm root from debootstrap, with Node.js from the npm registry, or Debian's nats-server.
import { spawn } from "node:child_process"
import { createHash } from "node:crypto"
import { copyFile, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { imageLabels, pullImage, run } from "./docker.js"

/** The label every stand-in carries (the tag it stands in for), and the digest of what it was built from. */
export const STAND_IN_LABEL = "org.modelbus.stand-in"
const INPUTS_LABEL = "org.modelbus.stand-in.inputs"
/** The debootstrap root both stand-ins build on, kept as an image between runs. */
const ROOT_TAG = "modelbus-stand-in/debian:bookworm-minbase"
const DEFAULT_MIRROR = "http://deb.debian.org/debian"
const DEFAULT_REGISTRY = "https://registry.npmjs.org/"
/** npm's environment name of each proxy setting (npm reads npm_config_https_proxy as https-proxy). */
const NPM_PROXY_ENV: Readonly<Record<string, string>> = {
  https_proxy: "npm_config_https_proxy",
  http_proxy: "npm_config_proxy",
  no_proxy: "npm_config_noproxy"
}

export interface BaseImage {
  readonly tag: string
  /** present: the tag was here (pulled before, or a stand-in of the same inputs); else what this run did. */
  readonly source: "present" | "pulled" | "stand-in built"
  readonly ms: number
  /** Why the tag could not be pulled, when a stand-in was built. */
  readonly pullError?: string
}

/** Settings of the host's npm a build inside Docker needs to reach the registry the way the host does. */
interface NpmSettings {
  readonly version: string
  readonly registry: string
  /** The extra CA file npm trusts (npm's `cafile`, else NODE_EXTRA_CA_CERTS). */
  readonly caFile?: string
  readonly proxies: Readonly<Record<string, string>>
}

const npmGet = async (key: string) => {
  const got = (await run("npm", ["config", "get", key])).stdout.trim()
  return got === "" || got === "null" || got === "undefined" ? undefined : got
}

const npmSettings = async (): Promise<NpmSettings> => {
  const proxies: Record<string, string> = {}
  const httpsProxy = (await npmGet("https-proxy")) ?? process.env.HTTPS_PROXY ?? process.env.https_proxy
  const httpProxy = (await npmGet("proxy")) ?? process.env.HTTP_PROXY ?? process.env.http_proxy
  const noProxy = (await npmGet("noproxy")) ?? process.env.NO_PROXY ?? process.env.no_proxy
  if (httpsProxy !== undefined) proxies.https_proxy = httpsProxy
  if (httpProxy !== undefined) proxies.http_proxy = httpProxy
  if (noProxy !== undefined) proxies.no_proxy = noProxy
  const caFile = (await npmGet("cafile")) ?? process.env.NODE_EXTRA_CA_CERTS
  return {
    version: (await run("npm", ["--version"])).stdout.trim(),
    registry: (await npmGet("registry")) ?? DEFAULT_REGISTRY,
    ...(caFile === undefined ? {} : { caFile }),
    proxies
  }
}

/** The Debian mirror this machine's apt uses for bookworm (deb822 `.sources` or one-line `.list`). */
export const debianMirror = async (): Promise<string> => {
  const files = ["/etc/apt/sources.list"]
  const dir = "/etc/apt/sources.list.d"
  for (const name of await readdir(dir).catch(() => [] as Array<string>))
    if (name.endsWith(".list") || name.endsWith(".sources")) files.push(join(dir, name))
  for (const file of files) {
    const text = await readFile(file, "utf8").catch(() => "")
    for (const stanza of text.split(/\n\s*\n/)) {
      const field = (name: string) => new RegExp(`^${name}:\\s*(.+)$`, "mi").exec(stanza)?.[1]?.trim().split(/\s+/)
      if (field("Suites")?.includes("bookworm")) {
        const uri = field("URIs")?.[0]
        if (uri !== undefined) return uri.replace(/\/$/, "")
      }
    }
    for (const line of text.split("\n")) {
      const words = line
        .replace(/\[[^\]]*\]/, "")
        .trim()
        .split(/\s+/)
      if (words[0] === "deb" && words[2] === "bookworm" && words[1] !== undefined) return words[1].replace(/\/$/, "")
    }
  }
  return DEFAULT_MIRROR
}

const digest = (...parts: ReadonlyArray<string>) =>
  createHash("sha256").update(parts.join("\0")).digest("hex").slice(0, 16)

const proxyBuildArgs = (proxies: Readonly<Record<string, string>>) =>
  Object.entries(proxies).flatMap(([name, value]) => ["--build-arg", `${name}=${value}`])

/** `docker build` of a context folder with the stand-in's labels (the classic builder: no buildx needed). */
const build = async (context: string, tag: string, inputs: string, proxies: Readonly<Record<string, string>>) => {
  await run(
    "docker",
    [
      "build",
      "--tag",
      tag,
      "--label",
      `${STAND_IN_LABEL}=${tag}`,
      "--label",
      `${INPUTS_LABEL}=${inputs}`,
      ...proxyBuildArgs(proxies),
      context
    ],
    { env: { DOCKER_BUILDKIT: "0" }, timeoutMs: 30 * 60_000 }
  )
}

/** The debootstrap root as an image: kept between runs, made when missing (debootstrap needs root). */
const ensureRoot = async (log: (line: string) => void) => {
  if ((await imageLabels(ROOT_TAG)) !== undefined) return
  if (process.getuid?.() !== 0) throw new Error(`debootstrap needs root to make ${ROOT_TAG}: run as root`)
  const mirror = await debianMirror()
  const dir = await mkdtemp(join(tmpdir(), "modelbus-stand-in-root-"))
  const started = performance.now()
  try {
    const root = join(dir, "root")
    await run("debootstrap", ["--variant=minbase", "bookworm", root, mirror], { timeoutMs: 30 * 60_000 })
    const tar = spawn("tar", ["-C", root, "-c", "."], {
      stdio: ["ignore", "pipe", "inherit"]
    })
    await run("docker", ["import", "--change", `LABEL ${STAND_IN_LABEL}=${ROOT_TAG}`, "-", ROOT_TAG], {
      input: tar.stdout!,
      timeoutMs: 10 * 60_000
    })
    log(
      `debootstrap --variant=minbase bookworm from ${mirror} → ${ROOT_TAG}: ${Math.round(performance.now() - started)} ms`
    )
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
}

interface Recipe {
  /** A digest of what the stand-in is built from: a stand-in of other inputs is built again. */
  readonly inputs: () => Promise<string>
  readonly build: (tag: string, inputs: string) => Promise<void>
}

/** node:<major>-…: Node.js <major> from the npm registry's `node` package, npm as the host's, a `node` user (1000). */
const nodeRecipe = (major: string): Recipe => {
  let settings: NpmSettings | undefined
  const get = async () => (settings ??= await npmSettings())
  return {
    inputs: async () => {
      const s = await get()
      const ca = s.caFile === undefined ? "" : await readFile(s.caFile, "utf8").catch(() => "")
      return digest("node", major, s.version, s.registry, ca, JSON.stringify(s.proxies))
    },
    build: async (tag, inputs) => {
      const s = await get()
      const context = await mkdtemp(join(tmpdir(), "modelbus-stand-in-node-"))
      try {
        const prefix = join(context, "registry-node")
        await mkdir(prefix)
        // allowScripts: the `node` package's preinstall fetches this platform's build (from the registry too);
        // --ignore-scripts=false because `npm test --ignore-scripts` (.ci/run) passes npm_config_ignore_scripts on
        await writeFile(join(prefix, "package.json"), '{ "private": true, "allowScripts": { "node": true } }\n')
        await run(
          "npm",
          [
            "install",
            "--ignore-scripts=false",
            "--no-save",
            "--no-audit",
            "--no-fund",
            "--prefix",
            prefix,
            `node@${major}`
          ],
          { timeoutMs: 15 * 60_000 }
        )
        await copyFile(join(prefix, "node_modules/node/bin/node"), join(context, "node"))
        await rm(prefix, { recursive: true, force: true })
        const packed = await run("npm", ["pack", "--silent", "--pack-destination", context, `npm@${s.version}`])
        const npmTarball = packed.stdout.trim().split("\n").at(-1)!
        const lines = [
          `FROM ${ROOT_TAG}`,
          "COPY node /usr/local/bin/node",
          // a local tarball is unpacked by ADD: npm's files land in package/
          `ADD ${npmTarball} /usr/local/lib/node_modules/`,
          "RUN mv /usr/local/lib/node_modules/package /usr/local/lib/node_modules/npm \\",
          " && ln -s ../lib/node_modules/npm/bin/npm-cli.js /usr/local/bin/npm \\",
          " && ln -s ../lib/node_modules/npm/bin/npx-cli.js /usr/local/bin/npx \\",
          " && groupadd --gid 1000 node && useradd --uid 1000 --gid node --shell /bin/bash --create-home node \\",
          " && node --version && npm --version"
        ]
        if (s.caFile !== undefined) {
          await copyFile(s.caFile, join(context, "npm-ca.crt"))
          lines.push(
            "COPY npm-ca.crt /usr/local/share/modelbus-stand-in/npm-ca.crt",
            "ENV NODE_EXTRA_CA_CERTS=/usr/local/share/modelbus-stand-in/npm-ca.crt"
          )
        }
        if (s.registry !== DEFAULT_REGISTRY) lines.push(`ENV NPM_CONFIG_REGISTRY=${JSON.stringify(s.registry)}`)
        for (const [name, value] of Object.entries(s.proxies))
          lines.push(`ENV ${NPM_PROXY_ENV[name]}=${JSON.stringify(value)}`)
        lines.push('CMD ["node"]')
        await writeFile(join(context, "Dockerfile"), `${lines.join("\n")}\n`)
        await build(context, tag, inputs, s.proxies)
      } finally {
        await rm(context, { recursive: true, force: true })
      }
    }
  }
}

/** nats:…: Debian's nats-server (and wget, for the compose health check) as the entrypoint. */
const natsRecipe = (): Recipe => ({
  inputs: async () => digest("nats", await debianMirror()),
  build: async (tag, inputs) => {
    const context = await mkdtemp(join(tmpdir(), "modelbus-stand-in-nats-"))
    try {
      const lines = [
        `FROM ${ROOT_TAG}`,
        "RUN apt-get update \\",
        " && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends nats-server wget \\",
        " && rm -rf /var/lib/apt/lists/* && nats-server --version",
        "EXPOSE 4222 6222 8222",
        'ENTRYPOINT ["nats-server"]'
      ]
      await writeFile(join(context, "Dockerfile"), `${lines.join("\n")}\n`)
      const proxies: Record<string, string> = {}
      for (const name of ["http_proxy", "https_proxy", "no_proxy"]) {
        const value = process.env[name] ?? process.env[name.toUpperCase()]
        if (value !== undefined) proxies[name] = value
      }
      await build(context, tag, inputs, proxies)
    } finally {
      await rm(context, { recursive: true, force: true })
    }
  }
})

const recipeFor = (tag: string): Recipe | undefined => {
  const node = /^node:(\d+)-bookworm(-slim)?$/.exec(tag)
  if (node !== null) return nodeRecipe(node[1]!)
  if (/^nats:/.test(tag)) return natsRecipe()
  return undefined
}

/**
 * Makes every tag available: kept when present (a stand-in only when built from the same inputs), else
 * pulled, else a stand-in is built under that tag. Stand-ins and their root stay for the next run.
 */
export const ensureBaseImages = async (
  tags: ReadonlyArray<string>,
  log: (line: string) => void
): Promise<ReadonlyArray<BaseImage>> => {
  const done: Array<BaseImage> = []
  for (const tag of tags) {
    const started = performance.now()
    const ms = () => Math.round(performance.now() - started)
    const recipe = recipeFor(tag)
    const labels = await imageLabels(tag)
    const inputs = recipe === undefined ? undefined : await recipe.inputs()
    if (labels !== undefined && (labels[STAND_IN_LABEL] === undefined || labels[INPUTS_LABEL] === inputs)) {
      done.push({ tag, source: "present", ms: ms() })
      continue
    }
    const pullError = await pullImage(tag)
    if (pullError === undefined) {
      done.push({ tag, source: "pulled", ms: ms() })
      continue
    }
    if (recipe === undefined || inputs === undefined)
      throw new Error(`cannot pull ${tag} (${pullError}) and there is no stand-in recipe for it`)
    log(`${tag} cannot be pulled (${pullError}): building a stand-in`)
    await ensureRoot(log)
    await recipe.build(tag, inputs)
    done.push({ tag, source: "stand-in built", ms: ms(), pullError })
  }
  return done
}
