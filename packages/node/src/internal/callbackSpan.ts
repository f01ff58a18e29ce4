/**
 * Spans for work that runs from callbacks rather than in a fiber of its own (a server's
 * handshakes): each made as `Effect.withSpan` would make it in the fiber that called
 * `spanStarter` (same tracer, parent span, annotations and clock), and ended with the work's
 * outcome.
 */
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Runtime from "effect/Runtime"
import type * as Tracer from "effect/Tracer"

/** A started span: end it once, with the failure or without. */
export type CallbackSpan = (failure: unknown) => void

export const spanStarter = (
  name: string,
  options: Tracer.SpanOptions
): Effect.Effect<() => CallbackSpan> =>
  Effect.map(Effect.all([Effect.runtime<never>(), Effect.clock]), ([runtime, clock]) => {
    const make = Runtime.runSync(runtime)
    const span = Effect.makeSpan(name, options)
    return () => {
      const started = make(span)
      return (failure) =>
        started.end(clock.unsafeCurrentTimeNanos(), failure === undefined ? Exit.void : Exit.fail(failure))
    }
  })
