// Every NATS subject and queue group modelbus uses, built by one pure function from a prefix,
// so no other module concatenates subject strings.
export const DEFAULT_PREFIX = "modelbus"

const TOKEN = /^[A-Za-z0-9_-]+$/

/** True when `name` can be a model name: one subject token of letters, digits, `_` or `-`. */
export const isModelName = (name: string): boolean => TOKEN.test(name)

/** True when `prefix` is one or more dot-separated subject tokens. */
export const isSubjectPrefix = (prefix: string): boolean => prefix.split(".").every((t) => TOKEN.test(t))

/**
 * An actor id as one subject token: letters, digits, `_` and `-` kept, every other UTF-8 byte written
 * `%XX` (`iris-1@k3j9x2` → `iris-1%40k3j9x2`), so ids that differ give tokens that differ.
 */
export const actorToken = (actor: string): string => {
  if (TOKEN.test(actor)) return actor
  let token = ""
  for (const char of actor) {
    if (TOKEN.test(char)) token += char
    else for (const byte of encoder.encode(char)) token += `%${byte.toString(16).toUpperCase().padStart(2, "0")}`
  }
  return token
}

const encoder = new TextEncoder()

export interface Subjects {
  readonly prefix: string
  /** Request/reply subject answered by one replica of `model`. */
  readonly infer: (model: string) => string
  /** Queue group shared by every replica of `model`. */
  readonly inferQueue: (model: string) => string
  /**
   * Request/reply subject of one replica of `model`, `actor` by its id (encoded as one token): where a
   * client sends a retry or a hedge to a replica it heard from; the replica's processes share it as a queue group.
   */
  readonly inferActor: (model: string, actor: string) => string
  /** Scatter-gather status subject answered by every supervisor. */
  readonly status: string
  /** Lifecycle events of `model`'s actors (or `*` for every model). */
  readonly events: (model: string) => string
  /** Scatter-gather control commands answered by every supervisor. */
  readonly control: (command: ControlCommand) => string
  /** Where each replica reports the outcome of loading a new version of `model`. */
  readonly updateAcks: (model: string) => string
  /** Where a publisher says `model` has a new version (replicas then read it from the registry). */
  readonly versions: (model: string) => string
  /** Request/reply: one replica of `model` trains a copy and publishes it as the next version. */
  readonly fit: (model: string) => string
  /** Where the training replica reports each epoch of the fit request that carried `progress` (under events, not matched by `events(model)`). */
  readonly fitProgress: (model: string, progress: string) => string
  /** Answered by any replica of `model`, even one that left the infer queue group because it is full. */
  readonly presence: (model: string) => string
  /** Request/reply, one replica answers (also its queue group): `model`'s inputs, outputs, version, format and backend. */
  readonly describe: (model: string) => string
  /** The NATS micro (ADR-32) service name of `model`'s actors: the prefix's tokens and the model, joined by `-`. */
  readonly service: (model: string) => string
  /** Where each replica reports taking up (or dropping) a canary of `model` (under the update acks). */
  readonly canaryAcks: (model: string) => string
  /** Where an operator says `model`'s canary changed; replicas then read it from the registry (under the version notices). */
  readonly canaryNotices: (model: string) => string
  /** Scatter-gather: every replica of `model` answers with its canary figures. */
  readonly canaryFigures: (model: string) => string
  /** Where each supervisor running an autoscaled `model` publishes its load, for the others to share the target. */
  readonly autoscale: (model: string) => string
}

export const ControlCommand = { restart: "restart", scale: "scale" } as const
export type ControlCommand = (typeof ControlCommand)[keyof typeof ControlCommand]

export const subjects = (prefix: string = DEFAULT_PREFIX): Subjects => ({
  prefix,
  infer: (model) => `${prefix}.infer.${model}`,
  inferQueue: (model) => `${prefix}.${model}`,
  inferActor: (model, actor) => `${prefix}.infer.${model}.${actorToken(actor)}`,
  status: `${prefix}.status`,
  events: (model) => `${prefix}.events.${model}`,
  control: (command) => `${prefix}.control.${command}`,
  updateAcks: (model) => `${prefix}.update.ack.${model}`,
  versions: (model) => `${prefix}.update.version.${model}`,
  fit: (model) => `${prefix}.fit.${model}`,
  fitProgress: (model, progress) => `${prefix}.events.${model}.fit.${progress}`,
  presence: (model) => `${prefix}.presence.${model}`,
  describe: (model) => `${prefix}.describe.${model}`,
  service: (model) => `${prefix.replaceAll(".", "-")}-${model}`,
  canaryAcks: (model) => `${prefix}.update.ack.${model}.canary`,
  canaryNotices: (model) => `${prefix}.update.version.${model}.canary`,
  canaryFigures: (model) => `${prefix}.canary.${model}`,
  autoscale: (model) => `${prefix}.autoscale.${model}`
})

/** The NATS micro discovery verbs (ADR-32); each is asked on `$SRV.<VERB>[.<name>[.<id>]]`. */
export const MicroVerb = { ping: "PING", info: "INFO", stats: "STATS" } as const
export type MicroVerb = (typeof MicroVerb)[keyof typeof MicroVerb]

/** `$SRV.<VERB>`, `$SRV.<VERB>.<name>` or `$SRV.<VERB>.<name>.<id>`: every service, one service, one instance. */
export const microSubject = (verb: MicroVerb, name?: string, id?: string): string =>
  name === undefined ? `$SRV.${verb}` : id === undefined ? `$SRV.${verb}.${name}` : `$SRV.${verb}.${name}.${id}`
