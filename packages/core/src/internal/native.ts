import * as Effect from "effect/Effect"
import type { SslError } from "../SslError.js"
import { isSslError, OpenSslError } from "../SslError.js"

/**
 * Bindings throw `SslError` values; anything else thrown is a bug in the binding and becomes
 * an `OpenSslError` carrying it as the cause (never an untyped defect, so a faulty binding
 * cannot crash a caller's fiber).
 */
export const toSslError = (operation: string, e: unknown): SslError =>
  isSslError(e) ? e : new OpenSslError({ operation, entries: [], cause: e })

/** Run a synchronous binding operation as an Effect. */
export const native = <A>(operation: string, f: () => A): Effect.Effect<A, SslError> =>
  Effect.suspend(() => {
    try {
      return Effect.succeed(f())
    } catch (e) {
      return Effect.fail(toSslError(operation, e))
    }
  })
