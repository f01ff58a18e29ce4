/**
 * A value as an error message shows it ("got ..."). Never throws: the value is whatever a caller
 * passed, and `String` or `JSON.stringify` run its own code (`toString`, `toJSON`, getters) or
 * refuse it (a symbol, a BigInt, a cycle), which would turn a typed option error into a defect.
 */
export const describeValue = (value: unknown): string => {
  switch (typeof value) {
    case "string":
      return JSON.stringify(value)
    case "bigint":
      return `${value}n`
    case "number":
    case "boolean":
    case "undefined":
      return String(value)
    case "symbol":
      return "a symbol"
    case "function":
      return "a function"
    default:
      return value === null ? "null" : Array.isArray(value) ? "an array" : "an object"
  }
}
