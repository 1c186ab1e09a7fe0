// `it.effect` as @effect/vitest has it (its 4.x releases need vitest 5; this project runs vitest 4): an
// Effect test run scoped, on TestClock and TestConsole; a failure fails the test with the Effect's cause.
import { Cause, Effect, Exit, Layer, type Scope } from "effect"
import { TestClock, TestConsole } from "effect/testing"
import { it as vitestIt } from "vitest"

/** What every `it.effect` test is given: time that moves only when the test says, a console it keeps. */
export type TestServices = TestClock.TestClock | TestConsole.TestConsole | Scope.Scope

const testServices = Layer.mergeAll(TestClock.layer(), TestConsole.layer)

const run = <A, E>(test: Effect.Effect<A, E, TestServices>): Promise<A> =>
  Effect.runPromise(
    Effect.gen(function* () {
      const exit = yield* Effect.exit(Effect.scoped(test).pipe(Effect.provide(testServices)))
      if (Exit.isFailure(exit)) for (const error of Cause.prettyErrors(exit.cause)) yield* Effect.logError(error)
      return yield* exit
    })
  )

/** Registers a test whose body is an Effect, with vitest's name and optional timeout. */
const effect = <A, E>(name: string, test: () => Effect.Effect<A, E, TestServices>, timeout?: number): void => {
  vitestIt(name, () => run(Effect.suspend(test)), timeout)
}

/** Drop-in for `it` from @effect/vitest for the Effect tests here: `it.effect(name, () => Effect.gen(...))`. */
export const it = { effect }
