/**
 * The checks every layer applies to its timeouts and limits, so that `handshakeTimeout` or
 * `maxConnections` means the same thing in a connection, a server and an HTTP client, and is
 * refused the same way: `InvalidOptionError` naming the option, before anything is allocated.
 *
 * `duration` and `count` throw, so that an options resolver reads as plain code; `check` runs
 * one as an Effect.
 *
 * ```ts
 * const settings = yield* OptionCheck.check(() => ({
 *   timeout: OptionCheck.duration("timeout", options.timeout, "10 seconds"),
 *   maxConnections: OptionCheck.count("maxConnections", options.maxConnections, 100)
 * }))
 * ```
 *
 * @since 0.1.0
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import { describeValue as describeUnknown } from "./internal/describeValue.js"
import { InvalidOptionError } from "./SslError.js"

/**
 * A timeout or interval: a finite duration above zero (`NaN`, negative, zero and `Infinity`
 * would each disable or break a bound), `fallback` when absent. Throws `InvalidOptionError`.
 *
 * @since 0.1.0
 * @category checks
 */
export const duration = (
  option: string,
  input: Duration.DurationInput | undefined,
  fallback: Duration.DurationInput
): Duration.Duration => {
  const decoded = Duration.decodeUnknown(input === undefined ? fallback : input)
  if (decoded._tag === "None") {
    throw new InvalidOptionError({ option, reason: `expected a duration, got ${describeValue(input)}` })
  }
  const millis = Duration.toMillis(decoded.value)
  if (!Number.isFinite(millis) || !(millis > 0)) {
    throw new InvalidOptionError({
      option,
      reason: `expected a finite duration above zero, got ${describeValue(input)}`
    })
  }
  return decoded.value
}

/**
 * A limit: a whole number of at least 1, `fallback` when absent. Throws `InvalidOptionError`.
 *
 * @since 0.1.0
 * @category checks
 */
export const count = (option: string, input: number | undefined, fallback: number): number => {
  const value: unknown = input === undefined ? fallback : input
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < 1) {
    throw new InvalidOptionError({
      option,
      reason: `expected a whole number of at least 1, got ${describeValue(input)}`
    })
  }
  return value
}

/**
 * Run an options resolver: what it throws as `InvalidOptionError` is the failure; anything else
 * it throws is a defect.
 *
 * @since 0.1.0
 * @category checks
 */
export const check = <A>(resolve: () => A): Effect.Effect<A, InvalidOptionError> =>
  Effect.suspend(() => {
    try {
      return Effect.succeed(resolve())
    } catch (e) {
      return e instanceof InvalidOptionError ? Effect.fail(e) : Effect.die(e)
    }
  })

/**
 * A value as an option error shows it after "got": strings quoted, other primitives as written,
 * objects by their kind. Never throws, whatever the value's own `toString` or `toJSON` do.
 *
 * @since 0.1.0
 * @category checks
 */
export const describeValue: (value: unknown) => string = describeUnknown
