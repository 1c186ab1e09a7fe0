// Why an actor process could not start, as explicit unions of typed errors: each is reported to its
// supervisor by tag and message (`startFailed`) and can be matched by tag by whoever runs the actor.
import type { Schema } from "effect"
import type { BackendUnavailable, ModelLoadFailed } from "../model/errors.js"
import type { BadInput, ConnectionError } from "../protocol/errors.js"
import type {
  ArtifactCorrupt,
  IncompatibleSignature,
  ModelNotFinite,
  RegistryUnavailable,
  VersionNotFound
} from "../registry/errors.js"
import type { CredentialsUnavailable } from "./credentials.js"

/** Why setting up what an actor needs before its model (runtime, connection, registry) failed. */
export type PreparationError = BackendUnavailable | ConnectionError | RegistryUnavailable

/** Why the model an actor starts with could not be loaded: from its path, or the registry's current version (seeded from the path when there is none). */
export type InitialModelError =
  | ModelLoadFailed
  | RegistryUnavailable
  | ArtifactCorrupt
  | VersionNotFound
  | ModelNotFinite
  /** Seeding version 1 from the path: the artifacts do not pass the registry's checks. */
  | BadInput
  | IncompatibleSignature

/** Why `runModelActor` (or a standby it was assigned) could not start serving. */
export type ActorStartError = PreparationError | InitialModelError

/** Why an actor process could not start: its settings, its credentials, or the actor itself. */
export type ActorProcessStartError = Schema.SchemaError | CredentialsUnavailable | ActorStartError
