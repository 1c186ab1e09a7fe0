// Describing values and causes in error messages, and the one record check every decoder uses:
// shared by every folder, so no folder keeps its own copy.

/** A plain object (not null, not an array). */
export const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === "object" && value !== null && !Array.isArray(value)

/** The message of an Error, or the value as text: what a caught cause says. */
export const messageOf = (cause: unknown): string => (cause instanceof Error ? cause.message : String(cause))

/** A short description of a value for error messages: its type, and length for arrays. */
export const describe = (value: unknown): string =>
  Array.isArray(value)
    ? `an array of ${value.length}`
    : value === null
      ? "null"
      : value instanceof Uint8Array
        ? `${value.byteLength} bytes`
        : typeof value === "object"
          ? "an object"
          : typeof value === "string"
            ? `the string ${JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value)}`
            : `${typeof value} ${String(value)}`
