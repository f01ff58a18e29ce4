/** Command-line values shared by the hardening commands; a bad value exits with one clear line. */
import * as Duration from "effect/Duration"
import * as Option from "effect/Option"

export const usageError = (command: string, message: string): never => {
  console.error(`${command}: ${message}`)
  process.exit(2)
}

const units: Record<string, string> = { ms: "millis", s: "seconds", m: "minutes", h: "hours" }

/** `90` (seconds), `90s`, `5m`, `1h`, or an Effect duration such as `"5 minutes"`. */
export const duration = (command: string, option: string, value: string): Duration.Duration => {
  const short = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h)?$/.exec(value.trim())
  const decoded = short !== null
    ? Option.some(Duration.decode(`${Number(short[1])} ${units[short[2] ?? "s"]}` as Duration.DurationInput))
    : Duration.decodeUnknown(value)
  if (Option.isNone(decoded) || !Duration.isFinite(decoded.value) || Duration.toMillis(decoded.value) <= 0) {
    return usageError(command, `--${option} must be a positive duration (90, 90s, 5m, "5 minutes"), got ${value}`)
  }
  return decoded.value
}

/** A whole number within `[min, max]`. */
export const integer = (command: string, option: string, value: string, min: number, max: number): number => {
  const n = Number(value)
  if (!Number.isSafeInteger(n) || n < min || n > max) {
    return usageError(command, `--${option} must be a whole number from ${min} to ${max}, got ${value}`)
  }
  return n
}
