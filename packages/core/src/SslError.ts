/**
 * Errors raised by effect-openssl. Every failure is a value: OpenSSL's error
 * queue is drained into the error at the point of failure.
 *
 * @since 0.1.0
 */
import * as Data from "effect/Data"
import * as Predicate from "effect/Predicate"

/**
 * @since 0.1.0
 * @category type ids
 */
export const TypeId: unique symbol = Symbol.for("@effect-openssl/core/SslError")

/**
 * @since 0.1.0
 * @category type ids
 */
export type TypeId = typeof TypeId

/**
 * One entry of OpenSSL's per-thread error queue.
 *
 * @since 0.1.0
 * @category models
 */
export interface OpenSslErrorEntry {
  /** The packed error code as returned by `ERR_get_error`. */
  readonly code: number
  /** Library number (`ERR_GET_LIB`). */
  readonly library: number
  /** Library name, e.g. `"SSL routines"`, when OpenSSL knows it. */
  readonly libraryName: string | undefined
  /** Reason number (`ERR_GET_REASON`). */
  readonly reason: number
  /** Reason text, e.g. `"no cipher match"`, when OpenSSL knows it. */
  readonly reasonText: string | undefined
  /** The full line from `ERR_error_string_n`. */
  readonly message: string
}

/**
 * A native call failed. `entries` is OpenSSL's error queue at that point, oldest first.
 *
 * @since 0.1.0
 * @category errors
 */
export class OpenSslError extends Data.TaggedError("OpenSslError")<{
  /** The native function (or library operation) that failed. */
  readonly operation: string
  readonly entries: ReadonlyArray<OpenSslErrorEntry>
  readonly cause?: unknown
}> {
  /** @since 0.1.0 */
  readonly [TypeId]: TypeId = TypeId
  /** @since 0.1.0 */
  override get message(): string {
    const reasons = this.entries.map((e) => e.reasonText ?? e.message)
    return reasons.length === 0 ? `${this.operation} failed` : `${this.operation} failed: ${reasons.join("; ")}`
  }
}

/**
 * An option given to a constructor is invalid. Nothing was leaked: any native object
 * allocated before the check was released.
 *
 * @since 0.1.0
 * @category errors
 */
export class InvalidOptionError extends Data.TaggedError("InvalidOptionError")<{
  /** Dotted path of the offending option, e.g. `"certificate.key"`. */
  readonly option: string
  /** Why it was rejected, in words. */
  readonly reason: string
  /** OpenSSL's own error, when the native library rejected the value. */
  readonly cause?: OpenSslError | undefined
}> {
  /** @since 0.1.0 */
  readonly [TypeId]: TypeId = TypeId
  /** @since 0.1.0 */
  override get message(): string {
    const native = this.cause === undefined ? "" : ` (${this.cause.message})`
    return `invalid option ${this.option}: ${this.reason}${native}`
  }
}

/**
 * A handle was used after its lease was released (its scope closed, or it was released
 * early). The native object was not touched.
 *
 * @since 0.1.0
 * @category errors
 */
export class ReleasedHandleError extends Data.TaggedError("ReleasedHandleError")<{
  readonly kind: NativeKind
  /** What was attempted on the released handle. */
  readonly operation: string
}> {
  /** @since 0.1.0 */
  readonly [TypeId]: TypeId = TypeId
  /** @since 0.1.0 */
  override get message(): string {
    return `${this.operation}: the ${this.kind} handle was already released`
  }
}

/**
 * The operation is not available in the OpenSSL in use (too old, a feature compiled out,
 * or an implementation without native code such as a model).
 *
 * @since 0.1.0
 * @category errors
 */
export class UnsupportedError extends Data.TaggedError("UnsupportedError")<{
  readonly operation: string
  readonly reason: string
}> {
  /** @since 0.1.0 */
  readonly [TypeId]: TypeId = TypeId
  /** @since 0.1.0 */
  override get message(): string {
    return `${this.operation} is not supported: ${this.reason}`
  }
}

/**
 * The kinds of native object the library owns references to.
 *
 * @since 0.1.0
 * @category models
 */
export type NativeKind = "SSL_CTX" | "SSL" | "SSL_SESSION"

/**
 * Any error of the handle lifecycle.
 *
 * @since 0.1.0
 * @category errors
 */
export type SslError = OpenSslError | InvalidOptionError | ReleasedHandleError | UnsupportedError

/**
 * @since 0.1.0
 * @category guards
 */
export const isSslError = (u: unknown): u is SslError => Predicate.hasProperty(u, TypeId)
