import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import { TlsError } from "../SslError.js"

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
