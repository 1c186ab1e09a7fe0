// The actor start path's error channel, checked by the compiler (`npm run typecheck`): each entry point
// fails with its declared union of typed errors, never `unknown`, so a new failure must be named there.
import type { Effect } from "effect"
import { describe, expectTypeOf, it } from "vitest"
import type { runModelActor } from "../../../src/actors/ModelActor.js"
import type { prepareActor } from "../../../src/actors/preparation.js"
import type { runStandby } from "../../../src/actors/standby.js"
import type { ActorStartError, PreparationError } from "../../../src/actors/startErrors.js"

type ErrorOf<F extends (...args: never) => unknown> = Effect.Error<ReturnType<F>>

describe("actor start errors", () => {
  it("declares what each step of the start can fail with", () => {
    expectTypeOf<ErrorOf<typeof prepareActor>>().toEqualTypeOf<PreparationError>()
    expectTypeOf<ErrorOf<typeof runModelActor>>().toEqualTypeOf<ActorStartError>()
    expectTypeOf<ErrorOf<typeof runStandby>>().toEqualTypeOf<ActorStartError>()
    expectTypeOf<ErrorOf<typeof runModelActor>>().not.toBeUnknown()
    expectTypeOf<ActorStartError["_tag"]>().toEqualTypeOf<
      | "BackendUnavailable"
      | "ConnectionError"
      | "RegistryUnavailable"
      | "ModelLoadFailed"
      | "ArtifactCorrupt"
      | "VersionNotFound"
      | "ModelNotFinite"
      | "BadInput"
      | "IncompatibleSignature"
    >()
  })
})
