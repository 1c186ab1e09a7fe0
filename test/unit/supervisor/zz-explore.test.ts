import { it } from "vitest"
import { Effect, Exit, Cause } from "effect"
import { decodeConfig } from "../../../src/supervisor/config.js"
import { BadInput, PayloadTooLarge, errorBody, serviceErrorFromBody } from "../../../src/protocol/errors.js"
it("explore", async () => {
  const cases: Array<unknown> = [
    { models: [{ name: "a", path: "x", extra: 1 }] },
    { models: [{ name: "a", path: "x" }], extra: 1 },
    { models: [{ name: "a.b", path: "x" }] },
    { models: [{ name: "a", path: "x", replicas: 0 }] },
    { models: [{ name: "a", path: "x" }], supervisor: { strategy: "all" } },
    { models: [{ name: "a", path: "x" }, { name: "a", path: "y" }] },
    { models: [{ name: "a", path: "x" }], supervisor: { extra: 1 } },
  ]
  for (const c of cases) {
    const exit = await Effect.runPromiseExit(decodeConfig(c, "/tmp/cfg/modelbus.yaml"))
    console.log(JSON.stringify(c), Exit.isFailure(exit) ? (Cause.squash(exit.cause) as any).message : JSON.stringify(exit.value))
  }
  const e = new PayloadTooLarge({ message: "m", limit: 1, size: 2 })
  console.log(JSON.stringify(errorBody(e)), Object.keys(e), e instanceof Error)
  const b = new BadInput({ message: "m" })
  console.log(JSON.stringify(errorBody(b)), serviceErrorFromBody(JSON.parse(JSON.stringify(errorBody(b)))))
})
