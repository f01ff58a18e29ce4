import * as Effect from "effect/Effect"
import type { SslError } from "../SslError.js"
import { isSslError, OpenSslError } from "../SslError.js"

/**
 * Run a synchronous binding operation. Bindings throw `SslError` values; anything else
 * thrown is a bug in the binding and becomes an `OpenSslError` carrying it as the cause
 * (never an untyped defect, so a faulty binding cannot crash a caller's fiber).
 */
export const native = <A>(operation: string, f: () => A): Effect.Effect<A, SslError> =>
  Effect.try({
    try: f,
    catch: (e) => isSslError(e) ? e : new OpenSslError({ operation, entries: [], cause: e })
  })
