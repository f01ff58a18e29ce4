import type { SslError } from "../SslError.js"
import { isSslError, OpenSslError } from "../SslError.js"

/**
 * Bindings throw `SslError` values; anything else thrown is a bug in the binding and becomes
 * an `OpenSslError` carrying it as the cause (never an untyped defect, so a faulty binding
 * cannot crash a caller's fiber).
 */
export const toSslError = (operation: string, e: unknown): SslError =>
  isSslError(e) ? e : new OpenSslError({ operation, entries: [], cause: e })
