import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import { InvalidOptionError, TlsError } from "../SslError.js"

/**
 * A timeout option as a `Duration`: finite and positive, or `InvalidOptionError` naming the
 * option (`NaN`, negative, zero and `Infinity` would each disable or break a bound).
 */
export const decodeTimeout = (
  option: string,
  input: Duration.DurationInput | undefined,
  fallback: Duration.DurationInput
): Duration.Duration => {
  const decoded = Duration.decodeUnknown(input ?? fallback)
  if (decoded._tag === "None") {
    throw new InvalidOptionError({ option, reason: `expected a duration, got ${describe(input)}` })
  }
  const millis = Duration.toMillis(decoded.value)
  if (!Number.isFinite(millis) || !(millis > 0)) {
    throw new InvalidOptionError({ option, reason: `expected a finite duration above zero, got ${describe(input)}` })
  }
  return decoded.value
}

const describe = (input: unknown): string =>
  typeof input === "string" ? JSON.stringify(input) : typeof input === "bigint" ? `${input}n` : String(input)

/**
 * Bound `effect` by `duration`, failing with a `TlsError` `"Timeout"` for `operation`. Both
 * sides of the race are made interruptible on purpose: in a finalizer (uninterruptible) the
 * forked loser would otherwise inherit that and the race would wait for it, and a failing
 * sibling in `Effect.all` could not interrupt a bounded handshake.
 */
export const within = <A, E>(
  effect: Effect.Effect<A, E>,
  duration: Duration.Duration,
  operation: string
): Effect.Effect<A, E | TlsError> =>
  Effect.raceFirst(
    Effect.interruptible(effect),
    Effect.interruptible(
      // Made only when the time is up: an error captures a stack, which costs more than the race.
      Effect.zipRight(Effect.sleep(duration), Effect.failSync(() => new TlsError({ reason: "Timeout", operation })))
    )
  )
