// OTP restart strategies as a pure decision: given the children in start order and the one
// that failed, which children are restarted (and so first terminated, in reverse order).
export const Strategy = {
  one_for_one: "one_for_one",
  one_for_all: "one_for_all",
  rest_for_one: "rest_for_one"
} as const
export type Strategy = (typeof Strategy)[keyof typeof Strategy]

/** The ids to restart, in start order; empty if `failed` is not a child. */
export const childrenToRestart = (
  strategy: Strategy,
  startOrder: ReadonlyArray<string>,
  failed: string
): ReadonlyArray<string> => {
  const at = startOrder.indexOf(failed)
  if (at < 0) return []
  switch (strategy) {
    case "one_for_one":
      return [failed]
    case "one_for_all":
      return [...startOrder]
    case "rest_for_one":
      return startOrder.slice(at)
  }
}
