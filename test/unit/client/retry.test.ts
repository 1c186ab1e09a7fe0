// The client's retry policy as logic: which errors are retried, the delays the Schedule produces,
// and the retry loop driven by TestClock (no real waiting), attempts bounded and stamped on errors.
import { Clock, Duration, Effect, Exit, Fiber, Schedule } from "effect"
import { TestClock } from "effect/testing"
import { describe, expect, it } from "vitest"
import {
  defaultRetryPolicy,
  isRetryable,
  type RetryPolicy,
  resolveRetryPolicy,
  retrying,
  retryPlan,
  retrySchedule
} from "../../../src/client/retry.js"
import {
  BadInput,
  BadReply,
  ConnectionError,
  DeadlineExceeded,
  type InferError,
  InferenceFailed,
  NoResponders,
  Overloaded,
  PayloadTooLarge,
  Timeout
} from "../../../src/protocol/errors.js"

const timeout = () => new Timeout({ message: "no reply", subject: "modelbus.infer.m", timeoutMs: 100 })
const noResponders = () => new NoResponders({ message: "nobody", subject: "modelbus.infer.m" })
const overloaded = () => new Overloaded({ message: "full" })
const badInput = () => new BadInput({ message: "expected shape [?, 4], received [1, 3]" })

const policy = (p: Partial<RetryPolicy>): RetryPolicy => resolveRetryPolicy(defaultRetryPolicy, p)

/** The delays a fresh run of the schedule gives for these failures, until it stops. */
const delaysOf = (schedule: Schedule.Schedule<Duration.Duration, InferError>, inputs: ReadonlyArray<InferError>) =>
  Effect.runSync(
    Effect.gen(function* () {
      const step = yield* Schedule.toStep(schedule)
      const delays: Array<number> = []
      let now = 0
      for (const input of inputs) {
        const exit = yield* Effect.exit(step(now, input))
        if (Exit.isFailure(exit)) break // the schedule is done
        const ms = Duration.toMillis(exit.value[1])
        delays.push(ms)
        now += ms
      }
      return delays
    })
  )

describe("which failures are retried", () => {
  it("retries Timeout, NoResponders and Overloaded only", () => {
    for (const e of [timeout(), noResponders(), overloaded()]) expect(isRetryable(e)).toBe(true)
    const never: Array<InferError> = [
      badInput(),
      new PayloadTooLarge({ message: "big", limit: 1, size: 2 }),
      new InferenceFailed({ message: "boom" }),
      new DeadlineExceeded({ message: "late" }),
      new BadReply({ message: "what", subject: "s" }),
      new ConnectionError({ message: "closed" })
    ]
    for (const e of never) expect(isRetryable(e)).toBe(false)
  })
})

describe("the retry policy", () => {
  it("has the documented defaults", () => {
    expect(defaultRetryPolicy).toEqual({ attempts: 5, initialDelayMs: 25, maxDelayMs: 1_000, attemptTimeoutMs: 5_000 })
  })

  it("lays an override over a base, ignoring undefined fields, and `false` means one attempt", () => {
    const base = policy({ attempts: 7, attemptTimeoutMs: 300 })
    expect(resolveRetryPolicy(base, undefined)).toEqual(base)
    expect(resolveRetryPolicy(base, { initialDelayMs: 5 })).toEqual({ ...base, initialDelayMs: 5 })
    expect(resolveRetryPolicy(base, { attempts: undefined } as unknown as Partial<RetryPolicy>)).toEqual(base)
    expect(resolveRetryPolicy(base, false)).toEqual({ ...base, attempts: 1 })
  })

  it("makes values sane: whole attempts ≥ 1, delays ≥ 0, max ≥ initial, a positive timeout", () => {
    expect(policy({ attempts: 0 }).attempts).toBe(1)
    expect(policy({ attempts: 3.7 }).attempts).toBe(3)
    expect(policy({ initialDelayMs: -5 }).initialDelayMs).toBe(0)
    expect(policy({ initialDelayMs: 50, maxDelayMs: 10 }).maxDelayMs).toBe(50)
    expect(policy({ attemptTimeoutMs: 0 }).attemptTimeoutMs).toBe(defaultRetryPolicy.attemptTimeoutMs)
  })

  it("builds no schedule when there is one attempt", () => {
    expect(retryPlan(policy({ attempts: 1 })).schedule).toBeUndefined()
    expect(retryPlan(policy({ attempts: 2 })).schedule).toBeDefined()
  })
})

describe("the retry schedule", () => {
  const p = policy({ attempts: 8, initialDelayMs: 25, maxDelayMs: 300 })
  const failures = Array.from({ length: 20 }, timeout)

  it("stops after attempts - 1 retries", () => {
    expect(delaysOf(retrySchedule(p), failures)).toHaveLength(7)
    expect(delaysOf(retrySchedule(policy({ attempts: 2 })), failures)).toHaveLength(1)
  })

  it("is exponential from initialDelayMs, jittered by ±20 %, and never longer than maxDelayMs", () => {
    for (let run = 0; run < 200; run++) {
      const delays = delaysOf(retrySchedule(p), failures)
      delays.forEach((d, k) => {
        const base = 25 * 2 ** k
        expect(d).toBeGreaterThanOrEqual(Math.min(0.8 * base, 300) - 1e-9)
        expect(d).toBeLessThanOrEqual(Math.min(1.2 * base, 300) + 1e-9)
      })
    }
  })

  it("is actually jittered: the same retry gets different delays across calls", () => {
    const firsts = new Set(Array.from({ length: 50 }, () => delaysOf(retrySchedule(p), failures)[0]))
    expect(firsts.size).toBeGreaterThan(10)
  })

  it("stops at the first failure that is not retryable", () => {
    expect(delaysOf(retrySchedule(p), [badInput()])).toEqual([])
    expect(
      delaysOf(retrySchedule(p), [overloaded(), noResponders(), new InferenceFailed({ message: "boom" }), timeout()])
    ).toHaveLength(2)
  })
})

/** Runs `retrying` on a scripted attempt under TestClock, advancing virtual time until it ends. */
const runScripted = (script: ReadonlyArray<InferError | "ok">, p: RetryPolicy) =>
  Effect.runPromise(
    Effect.gen(function* () {
      const startedAt: Array<number> = []
      const attempt = (n: number) =>
        Effect.gen(function* () {
          startedAt.push(yield* Clock.currentTimeMillis)
          expect(n).toBe(startedAt.length)
          const step = script[n - 1] ?? script[script.length - 1]!
          return step === "ok" ? `answer on attempt ${n}` : yield* Effect.fail(step)
        })
      const fiber = yield* Effect.forkChild(Effect.exit(retrying(attempt, retryPlan(p))))
      yield* TestClock.adjust("1 hour")
      const exit = yield* Fiber.join(fiber)
      const gaps = startedAt.slice(1).map((t, i) => t - startedAt[i]!)
      return { exit, calls: startedAt.length, gaps }
    }).pipe(Effect.provide(TestClock.layer()))
  )

describe("the retry loop (TestClock)", () => {
  const p = policy({ attempts: 6, initialDelayMs: 100, maxDelayMs: 1_000 })

  it("succeeds on attempt N+1 after N retryable failures, waiting virtual time only", async () => {
    const { exit, calls, gaps } = await runScripted([noResponders(), overloaded(), timeout(), noResponders(), "ok"], p)
    expect(exit).toEqual(Exit.succeed("answer on attempt 5"))
    expect(calls).toBe(5)
    gaps.forEach((g, k) => {
      expect(g).toBeGreaterThanOrEqual(Math.floor(0.8 * 100 * 2 ** k))
      expect(g).toBeLessThanOrEqual(Math.min(Math.ceil(1.2 * 100 * 2 ** k), 1_000))
    })
    // ≥ 1.2 s of backoff measured on the TestClock, which only moved because the test adjusted it
    expect(gaps.reduce((a, b) => a + b, 0)).toBeGreaterThanOrEqual(0.8 * (100 + 200 + 400 + 800))
  })

  it("gives up after `attempts` tries with the last error, stamped with the attempts", async () => {
    const { exit, calls } = await runScripted([overloaded(), noResponders(), timeout()], p)
    expect(calls).toBe(6)
    expect(Exit.isFailure(exit)).toBe(true)
    const error = Exit.isFailure(exit) ? exit.cause.reasons[0] : undefined
    expect(error?._tag).toBe("Fail")
    const failed = error?._tag === "Fail" ? error.error : undefined
    expect(failed).toBeInstanceOf(Timeout)
    expect(failed).toMatchObject({ _tag: "Timeout", attempts: 6, subject: "modelbus.infer.m", timeoutMs: 100 })
  })

  it("tries a non-retryable error exactly once and returns it unchanged", async () => {
    const bad = badInput()
    const { exit, calls } = await runScripted([bad], p)
    expect(calls).toBe(1)
    expect(exit).toEqual(Exit.fail(bad))
  })

  it("stops retrying as soon as a non-retryable error follows retryable ones", async () => {
    const { exit, calls } = await runScripted([overloaded(), new InferenceFailed({ message: "boom" }), "ok"], p)
    expect(calls).toBe(2)
    expect(exit).toEqual(Exit.fail(new InferenceFailed({ message: "boom" })))
  })

  it("with one attempt, fails at once with attempts 1", async () => {
    const { exit, calls } = await runScripted([noResponders(), "ok"], policy({ attempts: 1 }))
    expect(calls).toBe(1)
    expect(exit).toEqual(Exit.fail(new NoResponders({ message: "nobody", subject: "modelbus.infer.m", attempts: 1 })))
  })
})
