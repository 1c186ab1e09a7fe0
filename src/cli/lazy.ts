// Loading a command's code only when that command runs: `modelbus --help` or `status` never load the
// supervisor, the registry or TensorFlow.js (each a dynamic import, a separate chunk of the bundle).
import * as Effect from "effect/Effect"

/** The effect `run` makes from the module `load` imports, imported when the effect runs. */
export const lazily = <M, A, E, R>(load: () => Promise<M>, run: (module: M) => Effect.Effect<A, E, R>) =>
  Effect.flatMap(
    Effect.promise(() => load()),
    run
  )
